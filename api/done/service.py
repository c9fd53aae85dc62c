"""What a client's done link names, and confirming it: the note, the files kept (storage and
a ClientDocument row each) and the record made through the one way every "done" goes
(api/reminder_clients/service.record_done: the row, an event, the workflow's signal).

All or nothing: when the record cannot be made (Temporal does not take the signal, the
database fails) the files written are removed again and no row stays."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from api.done.uploads import Submission, Upload
from api.errors import AppError, Conflict, NotFound
from api.reminder_clients.service import Done, TemporalGetter, record_done, target_client
from core.done_links import DoneLink, read_done_token
from core.models import Business, Client, Reminder
from core.progress_models import ClientDocument, ClientProgress
from core.repositories.progress import DONE, ProgressRepository
from core.repositories.reminders import ReminderRepository
from core.repositories.users import BusinessRepository
from core.storage import Storage, new_key

log = logging.getLogger(__name__)

INVALID_LINK = "This link is not valid. Please use the link in your most recent message."
SAVE_RACE = "This could not be saved just now. Please try again."
GONE_LINK = "This link is no longer in use. If you have questions, contact your accountant."


class LinkExpired(AppError):
    status_code = 410
    default_detail = (
        "This link has expired. Please use the link in your most recent message, or contact "
        "your accountant."
    )


class AlreadyDone(Conflict):
    def __init__(self, done_at: datetime | None) -> None:
        super().__init__("This was already marked as done.")
        self.done_at = done_at


@dataclass
class DoneTarget:
    link: DoneLink
    reminder: Reminder
    client: Client
    business: Business
    progress: ClientProgress | None

    @property
    def done(self) -> bool:
        return self.progress is not None and self.progress.state == DONE


async def load_target(session: AsyncSession, secret: str, token: str, now: datetime) -> DoneTarget:
    """What a link is for: 404 when it is not ours or names what no longer exists (or a
    client the reminder no longer targets), 410 when it has expired."""
    link = read_done_token(secret, token)
    if link is None:
        raise NotFound(INVALID_LINK)
    if link.expired(now):
        raise LinkExpired()
    reminder = await ReminderRepository(session).get(link.reminder_id)
    if reminder is None:
        raise NotFound(GONE_LINK)
    business = await BusinessRepository(session).get(reminder.business_id)
    if business is None:
        raise NotFound(GONE_LINK)
    try:
        client = await target_client(session, reminder, link.client_id)
    except NotFound:
        raise NotFound(GONE_LINK) from None
    progress = await ProgressRepository(session).find(reminder.id, link.period, client.id)
    return DoneTarget(link, reminder, client, business, progress)


def _document(target: DoneTarget, key: str, upload: Upload) -> ClientDocument:
    return ClientDocument(
        id=uuid.uuid4(),
        business_id=target.business.id,
        reminder_id=target.reminder.id,
        client_id=target.client.id,
        period=target.link.period,
        filename=upload.filename,
        content_type=upload.content_type,
        size=len(upload.data),
        sha256=upload.sha256,
        storage_key=key,
    )


async def _outstanding_row(session: AsyncSession, target: DoneTarget) -> ClientProgress:
    """The client's row for the period, new or locked and read afresh (on PostgreSQL: of
    two confirmations at once, one waits here and then finds the other's); 409 when they
    are done already."""
    progress = ProgressRepository(session)
    row = target.progress
    if row is None:
        try:
            row = await progress.add_outstanding(
                target.business.id, target.reminder.id, target.link.period, target.client.id
            )
        except IntegrityError:  # marked (or escalated) this very moment by someone else
            await session.rollback()
            raise Conflict(SAVE_RACE) from None
    else:
        await progress.lock(row)
    if row.state == DONE:
        raise AlreadyDone(row.done_at)
    return row


async def confirm(
    session: AsyncSession,
    storage: Storage,
    temporal: TemporalGetter,
    target: DoneTarget,
    submission: Submission,
) -> ClientProgress:
    """Mark the link's client done for its period with the note and files; 409 when they
    already are (nothing is kept then), 503 when Temporal is unavailable (nor then)."""
    await _outstanding_row(session, target)
    progress = ProgressRepository(session)
    written: list[str] = []
    try:
        for upload in submission.files:
            key = new_key(target.business.id)
            written.append(key)
            await storage.put(key, upload.data)
            progress.add_document(_document(target, key, upload))
        done = Done(
            source="client",
            note=submission.note,
            files=[upload.filename for upload in submission.files],
        )
        return await record_done(
            session, temporal, target.reminder, target.client, target.link.period, done
        )
    except BaseException:
        await session.rollback()
        for key in written:
            try:
                await storage.delete(key)
            except Exception:  # logged; the error being raised is the one that matters
                log.exception("could not remove an uploaded file after a failure: %s", key)
        raise
