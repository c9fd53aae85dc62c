"""Reading the app event log (append-only: nothing here updates or deletes an event).

Events are written by `core.events.record_event` (or `Actor.record`, which fills in the
caller and their business) in the same transaction as the change they record. The
actions recorded today, and where:

| action | subject | recorded in |
| --- | --- | --- |
| `user.registered` | user | api/auth/service.py `register` |
| `auth.login_failed` | user (null if the email is unknown) | api/auth/service.py `login`, committed on its own since the request then fails |
| `auth.refresh_token_reused` | user | api/auth/service.py `refresh` |
| `user.password_changed` | user | api/users/router.py `update_me` |
| `business.updated` | business | api/business/service.py |
| `member.added`, `member.removed` | user | api/business/service.py |
| `client.created`, `client.updated`, `client.deleted` | client | api/clients/service.py |
| `clients.imported` | client (no id; counts in the payload) | api/clients/service.py `import_clients` |
| `client.opted_out`, `client.opted_in` | client | core/unsubscribe.py `set_opt_out` (links, inbound STOP/START, provider opt-outs) |
| `template.created`, `template.updated`, `template.deleted` | template | api/templates/service.py |
| `sender_identity.created`, `.updated`, `.deleted` | sender_identity | api/sender_identities/service.py |
| `reminder.created`, `reminder.updated` | reminder | api/reminders/service.py |
| `reminder.signal` | reminder (payload `signal`: pause, resume, complete, cancel, trigger_now) | api/reminders/service.py |
| `delivery.failed` | delivery | activities/delivery.py (permanent failures) |
| `reconcile.run` | none (payload: source and counts; no business) | core/reconcile.py |
| `admin.created`, `admin.password_reset` | user (no business) | core/admin.py (`reminders create-admin`) |

Payloads are small and never hold secrets: `record_event` drops password and token keys.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from api.deps import TimeWindow
from api.events.schemas import EventRead
from core.models import AppEvent, User
from core.repositories.base import escape_like


@dataclass
class EventFilters:
    """`action` is exact, or a prefix when it ends with `.` (`client.` is every client event)."""

    action: str | None = None
    subject_type: str | None = None
    subject_id: str | None = None
    actor_user_id: uuid.UUID | None = None
    window: TimeWindow = field(default_factory=lambda: TimeWindow(since=None, until=None))
    business_id: uuid.UUID | None = None


def _query(filters: EventFilters) -> Select[AppEvent, str]:
    stmt = select(AppEvent, User.email).outerjoin(User, User.id == AppEvent.actor_user_id)
    if filters.business_id is not None:
        stmt = stmt.where(AppEvent.business_id == filters.business_id)
    if filters.action:
        if filters.action.endswith("."):
            stmt = stmt.where(AppEvent.action.like(escape_like(filters.action) + "%", escape="\\"))
        else:
            stmt = stmt.where(AppEvent.action == filters.action)
    if filters.subject_type:
        stmt = stmt.where(AppEvent.subject_type == filters.subject_type)
    if filters.subject_id:
        stmt = stmt.where(AppEvent.subject_id == filters.subject_id)
    if filters.actor_user_id is not None:
        stmt = stmt.where(AppEvent.actor_user_id == filters.actor_user_id)
    stmt = filters.window.apply(stmt, AppEvent.created_at)
    # Newest first; the id only makes the order stable for events of the same instant.
    return stmt.order_by(AppEvent.created_at.desc(), AppEvent.id.desc())


async def list_events(
    session: AsyncSession, filters: EventFilters, limit: int, offset: int
) -> tuple[list[EventRead], int]:
    """One page of the events matching `filters` (callers scope `business_id`)."""
    stmt = _query(filters)
    counted = stmt.order_by(None).with_only_columns(AppEvent.id).subquery()
    total = await session.scalar(select(func.count()).select_from(counted))
    rows = (await session.execute(stmt.limit(limit).offset(offset))).all()
    items = []
    for event, email in rows:
        item = EventRead.model_validate(event)
        item.actor_email = email
        items.append(item)
    return items, int(total or 0)
