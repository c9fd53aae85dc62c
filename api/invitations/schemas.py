from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import EmailStr, Field, field_validator

from api.auth.schemas import TokenPair, UserRead, check_password
from api.schemas import InputModel, ReadModel
from api.validation import Name
from core.enums import Role


class InvitationCreate(InputModel):
    email: EmailStr
    role: Role = Role.member

    @field_validator("email")
    @classmethod
    def _lower(cls, value: str) -> str:
        return value.lower()


class InvitationRead(ReadModel):
    id: uuid.UUID
    email: str
    role: Role
    invited_by_user_id: uuid.UUID | None
    created_at: datetime
    expires_at: datetime


class InvitationCreated(InvitationRead):
    email_sent: bool = Field(
        description="Whether the platform's email provider took the invitation email."
    )


class InvitationAccept(InputModel):
    token: str = Field(min_length=1, max_length=200, description="The code from the link.")
    full_name: Name | None = Field(
        default=None, description="For a new account; an existing one keeps its name."
    )
    password: str = Field(
        max_length=200,
        description="The new account's password; for an existing account, its password.",
    )

    _password = field_validator("password")(check_password)


class InvitationAccepted(TokenPair):
    user: UserRead
    business_id: uuid.UUID
