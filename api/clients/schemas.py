from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, EmailStr, Field, StringConstraints, field_validator

from api.schemas import InputModel, ReadModel
from api.validation import ChannelList, Name, TagList, check_phone, check_timezone
from core.enums import Channel

# api.validation's Phone and Timezone with a length cap that runs first, so a megabyte
# "phone" is refused cheaply and never echoed back in the error message.
BoundedPhone = Annotated[str, StringConstraints(max_length=50), AfterValidator(check_phone)]
BoundedTimezone = Annotated[str, StringConstraints(max_length=64), AfterValidator(check_timezone)]
Email = Annotated[EmailStr, Field(max_length=320)]
ExternalRef = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]


def _lower(value: str | None) -> str | None:
    return value.lower() if value is not None else None


def _no_nul(value: Any) -> Any:
    # PostgreSQL refuses NUL in text; caught here it is a 422 naming the field, not a 500.
    texts = value if isinstance(value, list) else [value]
    if any(isinstance(text, str) and "\x00" in text for text in texts):
        raise ValueError("must not contain NUL characters")
    return value


class _ClientInput(InputModel):
    _nul = field_validator("*", mode="before")(_no_nul)


class ClientCreate(_ClientInput):
    name: Name
    email: Email | None = None
    phone: BoundedPhone | None = None
    whatsapp: BoundedPhone | None = None
    timezone: BoundedTimezone | None = None
    tags: TagList = Field(default_factory=list)
    preferred_channels: ChannelList = Field(default_factory=list)
    opted_out_channels: ChannelList = Field(default_factory=list)
    external_ref: ExternalRef | None = None

    _email = field_validator("email")(_lower)


class ClientUpdate(_ClientInput):
    """Every field optional; `tags` replaces the whole set; null clears an optional field."""

    name: Name | None = None
    email: Email | None = None
    phone: BoundedPhone | None = None
    whatsapp: BoundedPhone | None = None
    timezone: BoundedTimezone | None = None
    tags: TagList | None = None
    preferred_channels: ChannelList | None = None
    opted_out_channels: ChannelList | None = None
    external_ref: ExternalRef | None = None

    _email = field_validator("email")(_lower)


class ClientRead(ReadModel):
    id: uuid.UUID
    name: str
    email: str | None
    phone: str | None
    whatsapp: str | None
    timezone: str | None
    tags: list[str]
    preferred_channels: list[Channel]
    opted_out_channels: list[Channel]
    external_ref: str | None
    created_at: datetime
    updated_at: datetime


class ImportRow(ReadModel):
    row: int = Field(description="Line of the record in the file; the header is row 1.")
    status: Literal["created", "updated", "rejected"]
    client_id: uuid.UUID | None = None
    errors: list[str] | None = None


class ImportResult(ReadModel):
    created: int
    updated: int
    rejected: int
    rows: list[ImportRow]
