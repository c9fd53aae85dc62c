from __future__ import annotations

import uuid
from datetime import datetime, time

from pydantic import EmailStr, Field, field_validator, model_validator

from api.auth.schemas import check_password
from api.schemas import InputModel, ReadModel
from api.validation import ChannelList, Country, Name, Timezone
from core.enums import Role


class BusinessUpdate(InputModel):
    name: Name | None = None
    timezone: Timezone | None = None
    default_channels: ChannelList | None = Field(default=None, min_length=1)
    send_window_start: time | None = None
    send_window_end: time | None = None
    country: Country | None = Field(
        default=None,
        description="ISO 3166 code: the public holidays a schedule's business_days skip "
        "when it names no country; null clears it.",
    )

    @model_validator(mode="after")
    def _local_times(self) -> BusinessUpdate:
        # Whether start and end differ is checked against the stored window, in the service.
        for value in (self.send_window_start, self.send_window_end):
            if value is not None and value.tzinfo is not None:
                raise ValueError("send window times are local times, without an offset")
        return self


class MemberCreate(InputModel):
    email: EmailStr
    full_name: Name
    password: str = Field(max_length=200)
    role: Role = Role.member

    _password = field_validator("password")(check_password)

    @field_validator("email")
    @classmethod
    def _lower(cls, value: str) -> str:
        return value.lower()


class MemberRead(ReadModel):
    id: uuid.UUID
    user_id: uuid.UUID
    email: str
    full_name: str
    role: Role
    is_active: bool
    created_at: datetime
