"""Schema pieces every domain uses."""

from __future__ import annotations

from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

T = TypeVar("T")


class ReadModel(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class InputModel(BaseModel):
    # Unknown fields are refused, so a caller who sends `business_id` or `role` learns it
    # is not theirs to set instead of believing it was applied.
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    @field_validator("*", mode="before")
    @classmethod
    def _no_nul_characters(cls, data: Any) -> Any:
        # PostgreSQL cannot store NUL in text; refuse it here with a clear message.
        if _has_nul(data):
            raise ValueError("text must not contain NUL (\\u0000) characters")
        return data


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(_has_nul(v) for v in value)
    return False


class ListResponse(BaseModel, Generic[T]):
    items: list[T]
    total: int = Field(
        description="How many match. Exact while `total_exact`; otherwise counting stopped "
        "there (10,000) and at least that many match."
    )
    total_exact: bool = True

    @model_validator(mode="before")
    @classmethod
    def _exactness(cls, data: Any) -> Any:
        """A count that stopped at its cap (core.repositories.base.Total) says so."""
        if isinstance(data, dict) and "total_exact" not in data:
            return {**data, "total_exact": getattr(data.get("total"), "exact", True)}
        return data


class CursorList(ListResponse[T], Generic[T]):
    next_cursor: str | None = Field(
        default=None,
        description="Pass as `after` for the next page (null on the last one): unlike "
        "`offset`, as quick deep in a long history as on its first page.",
    )
