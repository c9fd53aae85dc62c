"""DONE by text message: the client has done what the latest reminder they were sent
asks. It marks them done for that reminder's period the one way staff and the client's
link do (api/reminder_clients: the row, an event, the workflow's `client_done` signal),
so the period's later messages stop for them.

Which reminder: the one whose latest sent message (of a period) to the sender, on the
channel the DONE came by, is the latest; only that one, so a DONE sent twice never marks
an older reminder the client did not mean.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Collection

from sqlalchemy.ext.asyncio import AsyncSession

from api.errors import ServiceUnavailable
from api.reminder_clients.service import Done, TemporalGetter, record_done
from core.enums import Channel
from core.repositories.clients import ClientRepository
from core.repositories.progress import DONE, ProgressRepository
from core.repositories.reminders import ReminderRepository
from core.repositories.users import BusinessRepository

log = logging.getLogger(__name__)

MAX_NOTE = 2000
# An SMS reply is kept to about one segment; titles and names are the business's own.
MAX_NAME = 40
MAX_TITLE = 50
NOTHING_TO_MARK = "Thanks. There is nothing waiting for you to mark as done."
TRY_AGAIN = "Sorry, we could not record that just now. Please reply DONE again later."


def _short(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3].rstrip() + "..."


def done_reply(business_name: str, reminder_title: str) -> str:
    name, title = _short(business_name, MAX_NAME), _short(reminder_title, MAX_TITLE)
    return f"Thanks, {name} has been told you're done with {title}."


async def complete_latest(
    session: AsyncSession,
    temporal: TemporalGetter,
    channel: Channel,
    client_ids: Collection[uuid.UUID],
    body: str,
) -> str:
    """Mark the sender done for the period of the latest reminder they were sent on
    `channel` (committed); the reply. Nothing changes when there is none, when they are
    already done for it, or when Temporal cannot take the signal now."""
    progress = ProgressRepository(session)
    latest = await progress.latest_sent_period(client_ids, channel.value)
    if latest is None:
        return NOTHING_TO_MARK
    reminder = await ReminderRepository(session).get(latest.reminder_id)
    if reminder is None:
        return NOTHING_TO_MARK
    # In the reminder's business only: a delivery's client is always of its business.
    client = await ClientRepository(session).get(reminder.business_id, latest.client_id)
    business = await BusinessRepository(session).get(reminder.business_id)
    if client is None or business is None:
        return NOTHING_TO_MARK
    row = await progress.find(reminder.id, latest.period, client.id)
    if row is not None and row.state == DONE:
        return NOTHING_TO_MARK
    reply = done_reply(business.name, reminder.title)
    done = Done(source=channel.value, note=body.strip()[:MAX_NOTE] or None)
    try:
        await record_done(session, temporal, reminder, client, latest.period, done)
    except ServiceUnavailable as exc:
        # Twilio does not retry an inbound message on most accounts: a 200 that asks the
        # client to send it again, with nothing recorded, rather than a 5xx.
        await session.rollback()  # expires the rows read: only `latest` is read after it
        log.warning("DONE from client %s not recorded: %s", latest.client_id, exc.detail)
        return TRY_AGAIN
    log.info("client %s done for %s by %s", latest.client_id, latest.period, channel)
    return reply
