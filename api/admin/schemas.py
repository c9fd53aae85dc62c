from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from api.schemas import InputModel, ReadModel
from api.validation import Name


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
