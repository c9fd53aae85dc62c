"""An API key as made (the key in clear, this once) and as listed (never the key)."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime, Field

from api.schemas import InputModel, ReadModel
from api.validation import Name
from core.types import utcnow


class Scope(StrEnum):
    read = "read"  # GET and HEAD
    write = "write"  # every other method


def _unique_sorted(values: list[Scope]) -> list[Scope]:
    return sorted(set(values))


def _in_the_future(value: datetime | None) -> datetime | None:
    if value is not None and value <= utcnow():
        raise ValueError("must be in the future")
    return value


class ApiKeyCreate(InputModel):
    name: Name
    scopes: Annotated[
        list[Scope], Field(min_length=1, max_length=10), AfterValidator(_unique_sorted)
    ] = Field(description="`read` for GET requests, `write` for the others; one or both.")
    expires_at: Annotated[AwareDatetime | None, AfterValidator(_in_the_future)] = Field(
        default=None, description="When the key stops working (ISO 8601 with offset); none: never."
    )


class ApiKeyRead(ReadModel):
    id: uuid.UUID
    name: str
    prefix: str = Field(description="The key's first characters, to recognise it by.")
    scopes: list[str]
    created_by_user_id: uuid.UUID | None
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None = Field(
        description="Last request made with it (written at most once a minute)."
    )


class ApiKeyCreated(ApiKeyRead):
    key: str = Field(description="The key itself: shown this once, never again.")
