from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


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
