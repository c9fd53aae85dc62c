from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from api.schemas import InputModel, ReadModel

State = Literal["outstanding", "done", "opted_out"]


class DoneRequest(InputModel):
    period: str | None = Field(
        default=None,
        max_length=32,
        description="The period's key (its due time, e.g. 2027-01-07T09:00:00Z); default the "
        "current period: the one last sent, else the next.",
    )
    note: str | None = Field(default=None, max_length=2000)


class DocumentRead(ReadModel):
    id: uuid.UUID
    filename: str
    content_type: str
    size: int
    created_at: datetime


class ClientStateRead(BaseModel):
    client_id: uuid.UUID
    name: str
    period: str
    state: State
    sends: int = Field(description="Messages of this period that reached the provider.")
    done_at: datetime | None = None
    done_source: Literal["staff", "client", "sms", "whatsapp"] | None = None
    done_by_user_id: uuid.UUID | None = None
    note: str | None = None
    escalated_at: datetime | None = None
    documents: list[DocumentRead] = Field(default_factory=list)


class ClientStates(BaseModel):
    period: str | None = Field(description="The period shown: the current one unless asked.")
    periods: list[str] = Field(description="Periods with messages or marks, newest first.")
    items: list[ClientStateRead]
    counts: dict[State, int]
