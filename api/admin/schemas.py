from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, EmailStr, Field, field_validator, model_validator

from api.auth.schemas import check_password
from api.schemas import InputModel, ReadModel
from api.validation import Name
from core.enums import Role


class ReconcileMarked(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    reminder_id: str
    from_status: str = Field(alias="from")
    to_status: str = Field(alias="to")


class ReconcileError(BaseModel):
    reminder_id: str
    error: str


class ReconcileReportRead(BaseModel):
    checked: int = Field(description="Active reminders (scheduled or paused) looked at.")
    ok: int = Field(description="Workflow running as it should; nothing done.")
    started: list[str] = Field(description="Reminders whose missing workflow was started.")
    marked: list[ReconcileMarked] = Field(
        description="Reminders whose workflow had ended; the row now says how."
    )
    errors: list[ReconcileError]


class AdminUserUpdate(InputModel):
    """What a superuser may change on an account; anything else is refused."""

    is_active: bool | None = None
    full_name: Name | None = None


class AdminUserCreate(InputModel):
    """A new account: staff of an existing business (`business_id`, `role`), a superuser,
    or neither (an account without a business, which an invitation may later bring in)."""

    email: EmailStr
    full_name: Name
    password: str = Field(max_length=200)
    business_id: uuid.UUID | None = None
    role: Role | None = Field(default=None, description="With business_id; default member.")
    is_superuser: bool = False

    _password = field_validator("password")(check_password)

    @field_validator("email")
    @classmethod
    def _lower(cls, value: str) -> str:
        return value.lower()

    @model_validator(mode="after")
    def _role_needs_business(self) -> AdminUserCreate:
        if self.role is not None and self.business_id is None:
            raise ValueError("role: only with business_id (the business the account joins)")
        return self


class BusinessAdminRead(ReadModel):
    id: uuid.UUID
    name: str
    timezone: str
    created_at: datetime
    members: int = Field(description="Staff accounts (owners and members).")
    clients: int
    active_reminders: int = Field(description="Reminders scheduled or paused.")


class PasswordResetRead(BaseModel):
    reset_url: str = Field(
        description="Give it to the user: a page where they choose a new password (the "
        "token rides in the URL's fragment, which no server log sees)."
    )
    token: str = Field(
        description="The same code, to paste into that page or POST to /auth/password-reset; "
        "works once, until `expires_at`."
    )
    expires_at: datetime
