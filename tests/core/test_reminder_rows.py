"""What the workflow's syncs may do to a reminder's row."""

from __future__ import annotations

import uuid
from typing import Any

from core.models import Reminder
from core.repositories.reminders import ReminderRepository
from core.types import utcnow
from tests.builders.rows import add_reminder_row
from tests.conftest import Tenant


async def sync(app: Any, reminder_id: str, status: str, sent: int) -> Reminder:
    async with app.state.sessionmaker() as session:
        await ReminderRepository(session).set_state(
            uuid.UUID(reminder_id), status, utcnow(), sent, None
        )
        await session.commit()
        row = await session.get(Reminder, uuid.UUID(reminder_id))
        assert row is not None
        return row


async def test_a_late_sync_never_brings_an_ended_reminder_back(app: Any, owner: Tenant) -> None:
    """The API cancels (or completes) the row after signalling; a sync the workflow sent
    before it took the signal may land afterwards and must not undo it."""
    for ended in ("cancelled", "completed"):
        reminder = await add_reminder_row(app, owner, status=ended, next_fire_at=None)
        row = await sync(app, reminder, "scheduled", 0)
        assert (row.status, row.next_fire_at) == (ended, None)
        # The workflow's own word on the ended state still lands (its counts).
        assert (await sync(app, reminder, ended, 3)).occurrences_sent == 3


async def test_syncs_move_a_live_reminder_between_its_states(app: Any, owner: Tenant) -> None:
    reminder = await add_reminder_row(app, owner, status="scheduled")
    assert (await sync(app, reminder, "paused", 1)).status == "paused"
    assert (await sync(app, reminder, "scheduled", 1)).status == "scheduled"
    assert (await sync(app, reminder, "cancelled", 1)).status == "cancelled"
