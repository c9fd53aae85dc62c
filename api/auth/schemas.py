from __future__ import annotations

import uuid
from datetime import datetime, time

from pydantic import EmailStr, Field, field_validator

from api.schemas import InputModel, ReadModel
from api.validation import Name, Timezone
from core.enums import Channel, Role
from core.security import password_problem


def check_password(value: str) -> str:
    problem = password_problem(value)
    if problem:
        raise ValueError(problem)
    return value


class RegisterRequest(InputModel):
    email: EmailStr
    password: str = Field(max_length=200)
    full_name: Name
    business_name: Name
    timezone: Timezone = "UTC"

    _password = field_validator("password")(check_password)

    @field_validator("email")
    @classmethod
    def _lower(cls, value: str) -> str:
        return value.lower()


class UserRead(ReadModel):
    id: uuid.UUID
    email: str
    full_name: str
    is_active: bool
    is_superuser: bool
    role: Role | None = None
    business_id: uuid.UUID | None = None
    created_at: datetime
    last_login_at: datetime | None = None


class BusinessRead(ReadModel):
    id: uuid.UUID
    name: str
    timezone: str
    default_channels: list[Channel]
    send_window_start: time | None
    send_window_end: time | None
    country: str | None = None
    created_at: datetime
    updated_at: datetime


class TokenPair(ReadModel):
    access_token: str
    refresh_token: str
    token_type: str = "bearer"
    expires_in: int


class RegisterResponse(TokenPair):
    user: UserRead
    business: BusinessRead


class RefreshRequest(InputModel):
    refresh_token: str = Field(min_length=1, max_length=200)


class PasswordResetRequest(InputModel):
    token: str = Field(min_length=1, max_length=2000)
    password: str = Field(max_length=200)

    _password = field_validator("password")(check_password)


class ForgotPasswordRequest(InputModel):
    email: EmailStr

    @field_validator("email")
    @classmethod
    def _lower(cls, value: str) -> str:
        return value.lower()


class ForgotPasswordAccepted(ReadModel):
    detail: str = (
        "If an active account has this email, a link to choose a new password is on its way."
    )
