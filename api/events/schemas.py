"""What the audit log answers: one app event, as recorded."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from api.schemas import ReadModel


class EventRead(ReadModel):
    id: uuid.UUID
    business_id: uuid.UUID | None
    action: str
    subject_type: str | None
    subject_id: str | None
    actor_user_id: uuid.UUID | None
    actor_email: str | None = None
    payload: dict[str, Any]
    request_id: str | None
    ip_address: str | None
    created_at: datetime
