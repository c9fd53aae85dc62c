from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, EmailStr, Field, StringConstraints, field_validator

from api.client_fields.values import MAX_TEXT_CHARS
from api.schemas import InputModel, ReadModel
from api.validation import ChannelList, Name, TagList, check_phone, check_timezone
from core.client_field_models import MAX_FIELDS_PER_BUSINESS
from core.enums import Channel

# api.validation's Phone and Timezone with a length cap that runs first, so a megabyte
# "phone" is refused cheaply and never echoed back in the error message.
BoundedPhone = Annotated[str, StringConstraints(max_length=50), AfterValidator(check_phone)]
BoundedTimezone = Annotated[str, StringConstraints(max_length=64), AfterValidator(check_timezone)]
Email = Annotated[EmailStr, Field(max_length=320)]
ExternalRef = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
Address = Annotated[str, StringConstraints(min_length=1, max_length=500)]
Notes = Annotated[str, StringConstraints(min_length=1, max_length=5000)]
# A value of one of the business's own fields, checked against its type by the service
# (api/client_fields/values.py); here only bounded. null clears it.
FieldValue = Annotated[str, StringConstraints(max_length=MAX_TEXT_CHARS)] | int | float | bool
FieldValues = Annotated[
    dict[Annotated[str, StringConstraints(max_length=40)], FieldValue | None],
    Field(
        max_length=MAX_FIELDS_PER_BUSINESS,
        description="Values of the business's client fields by name "
        "(see /business/client-fields); null clears one.",
    ),
]


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
    secondary_phone: BoundedPhone | None = None
    whatsapp: BoundedPhone | None = None
    timezone: BoundedTimezone | None = None
    address: Address | None = None
    notes: Notes | None = None
    is_active: bool = True
    tags: TagList = Field(default_factory=list)
    preferred_channels: ChannelList = Field(default_factory=list)
    opted_out_channels: ChannelList = Field(default_factory=list)
    external_ref: ExternalRef | None = None
    fields: FieldValues = Field(default_factory=dict)

    _email = field_validator("email")(_lower)


class ClientUpdate(_ClientInput):
    """Every field optional; `tags` replaces the whole set; `fields` changes the values it
    names (null clears one) and keeps the others; null clears an optional field."""

    name: Name | None = None
    email: Email | None = None
    phone: BoundedPhone | None = None
    secondary_phone: BoundedPhone | None = None
    whatsapp: BoundedPhone | None = None
    timezone: BoundedTimezone | None = None
    address: Address | None = None
    notes: Notes | None = None
    is_active: bool | None = None
    tags: TagList | None = None
    preferred_channels: ChannelList | None = None
    opted_out_channels: ChannelList | None = None
    external_ref: ExternalRef | None = None
    fields: FieldValues | None = None

    _email = field_validator("email")(_lower)


class ClientRead(ReadModel):
    id: uuid.UUID
    name: str
    email: str | None
    phone: str | None
    secondary_phone: str | None
    whatsapp: str | None
    timezone: str | None
    address: str | None
    notes: str | None
    is_active: bool
    tags: list[str]
    preferred_channels: list[Channel]
    opted_out_channels: list[Channel]
    external_ref: str | None
    fields: dict[str, str | int | float | bool]
    created_at: datetime
    updated_at: datetime


class ClientDetail(ClientRead):
    """One client, with how much it is part of."""

    reminder_count: int = Field(
        description="Reminders naming the client or one of its tags, whatever their status."
    )
    delivery_count: int = Field(description="Messages to the client, on every channel.")


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
