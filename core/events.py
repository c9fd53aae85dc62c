"""Append-only app events, added to the caller's session so they commit with the change."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from core.context import request_id_var
from core.models import AppEvent

# Keys never written to an event payload, whatever a caller passes.
_SECRET_KEYS = {"password", "hashed_password", "token", "access_token", "refresh_token", "secret"}


def record_event(
    session: AsyncSession,
    action: str,
    *,
    business_id: uuid.UUID | None = None,
    actor_user_id: uuid.UUID | None = None,
    subject_type: str | None = None,
    subject_id: uuid.UUID | str | None = None,
    payload: dict[str, Any] | None = None,
    ip_address: str | None = None,
) -> AppEvent:
    clean = {k: v for k, v in (payload or {}).items() if k.lower() not in _SECRET_KEYS}
    event = AppEvent(
        business_id=business_id,
        actor_user_id=actor_user_id,
        action=action,
        subject_type=subject_type,
        subject_id=str(subject_id) if subject_id is not None else None,
        payload=clean,
        request_id=request_id_var.get(),
        ip_address=ip_address,
    )
    session.add(event)
    return event
