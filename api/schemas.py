"""Schema pieces every domain uses."""

from __future__ import annotations

from typing import Generic, TypeVar

from pydantic import BaseModel, ConfigDict

T = TypeVar("T")


class ReadModel(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class InputModel(BaseModel):
    # Unknown fields are refused, so a caller who sends `business_id` or `role` learns it
    # is not theirs to set instead of believing it was applied.
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class ListResponse(BaseModel, Generic[T]):
    items: list[T]
    total: int
