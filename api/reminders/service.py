"""Reminders: the row says what a reminder is, its workflow `reminder-<id>` runs it.

Creating inserts the row and starts the workflow in one request: the row is committed only
once Temporal has accepted the workflow, and a workflow whose row could not be stored is
terminated. State changes are signals; the row's status follows at once (and the workflow
keeps it in step afterwards through its `sync_reminder` activity). Each public write is
its request's transaction: it commits once, at its end (the web dashboard's forms call the
same functions). Reads are in view.py, checks of the input in checks.py.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.client import Client
from temporalio.service import RPCError

from api.deps import Actor
from api.email_configurations.service import check_configuration_id
from api.errors import Conflict, ServiceUnavailable, Unprocessable
from api.reminders import checks
from api.reminders.schemas import ReminderCreate, ReminderUpdate
from api.reminders.senders import apply_sender_identities, check_sender_identities
from api.reminders.signals import SIGNAL_TIMEOUT, signal_workflow
from api.templates.service import sample_context, trial_render
from core import webhook_events
from core.context import request_id_var
from core.enums import ReminderStatus as Status
from core.models import Reminder
from core.repositories.reminders import ENDED, ReminderRepository
from core.settings import Settings
from core.temporal import placement
from core.types import utcnow
from workflows import reminder_client as temporal_calls
from workflows.contracts import (
    RescheduleArgs,
    SignalArgs,
    TriggerArgs,
    manual_key,
    workflow_id_for,
)
from workflows.reminder import ReminderWorkflow
from workflows.reminder_client import Signal

log = logging.getLogger(__name__)

ArgT = TypeVar("ArgT")

START_TIMEOUT = 10.0

TemporalGetter = Callable[[], Awaitable[Client]]


# -- Temporal calls ----------------------------------------------------------------------


async def _start_workflow(
    temporal: Client, reminder: Reminder, settings: Settings, now: datetime
) -> None:
    await asyncio.wait_for(
        temporal_calls.start(
            temporal,
            placement(settings),
            reminder,
            # Occurrences before the reminder existed (a deadline's earlier offsets, a
            # recurrence that started in the past) are not the reminder's to send.
            cursor=now,
            request_id=request_id_var.get(),
            rpc_timeout=START_TIMEOUT,
        ),
        START_TIMEOUT + 1,
    )


async def _terminate_quietly(temporal: Client, workflow_id: str, reason: str) -> None:
    try:
        await temporal_calls.terminate(temporal, workflow_id, reason, timeout=SIGNAL_TIMEOUT)
    except Exception as exc:  # best effort: a workflow without its row cancels itself anyway
        log.warning("could not terminate %s: %r", workflow_id, exc)


# -- create ------------------------------------------------------------------------------


async def create(
    session: AsyncSession,
    actor: Actor,
    data: ReminderCreate,
    temporal: TemporalGetter,
    settings: Settings,
    idempotency_key: str | None,
) -> Reminder:
    """A new reminder, stored, its workflow started; or the one an earlier request with
    the same Idempotency-Key and body created."""
    earlier = await find_replay(session, actor, idempotency_key, data)
    if earlier is not None:
        return earlier
    reminder = await create_reminder(session, actor, data, temporal, settings, idempotency_key)
    await commit_or_terminate(session, actor, temporal, reminder)
    return reminder


async def find_replay(
    session: AsyncSession, actor: Actor, key: str | None, data: ReminderCreate
) -> Reminder | None:
    """The reminder an earlier request with this Idempotency-Key created, if any."""
    if key is None:
        return None
    earlier = await ReminderRepository(session).get_by_idempotency_key(actor.business_id, key)
    if earlier is not None and earlier.request_hash != checks.request_hash(data):
        raise Unprocessable(
            "Idempotency-Key was already used with a different request body; "
            "use a new key for a new reminder"
        )
    return earlier


async def create_reminder(
    session: AsyncSession,
    actor: Actor,
    data: ReminderCreate,
    temporal: TemporalGetter,
    settings: Settings,
    idempotency_key: str | None,
) -> Reminder:
    """Start the reminder's workflow and return its row, not yet stored: the caller stores
    it (commit_or_terminate).

    Temporal is reached only once the input is known to be good: bad input is a 422 even
    while Temporal is down. The workflow starts before the row is written, so no write
    lock is held through Temporal's round trip (on SQLite, every other create and trigger
    used to queue behind it); a workflow whose row never lands sends nothing (it finds no
    row at its first occurrence and cancels itself).
    """
    zones = await checks.client_timezones(session, actor, data.client_ids or [])
    if data.tag is not None:
        await checks.check_tag_reach(session, actor, data.tag, settings)
    if data.template_id is not None:
        await checks.check_template_id(session, actor, data.template_id)
    if data.email_configuration_id is not None:
        await check_configuration_id(session, actor, data.email_configuration_id)
    if data.escalate_to_user_id is not None:
        await checks.check_staff_member(session, actor, data.escalate_to_user_id)
    sender_identity_ids = await check_sender_identities(
        session, actor, data.sender_identity_ids or {}, data.channels or [], settings
    )
    timezone = data.timezone or checks.default_timezone(actor, zones)
    now = utcnow()
    schedule, next_fire_at = checks.validated_schedule(
        data.schedule,
        timezone,
        now,
        settings.MIN_RECURRENCE_INTERVAL_MINUTES,
        actor.business.country,
    )
    reminder_id = uuid.uuid4()
    reminder = Reminder(
        id=reminder_id,
        business_id=actor.business_id,
        title=data.title,
        description=data.description,
        type=data.type.value,
        client_ids=[str(client_id) for client_id in data.client_ids or []],
        tag=data.tag,
        channels=[channel.value for channel in data.channels or []],
        template_id=data.template_id,
        subject=data.subject,
        body=data.body,
        fallback=data.fallback,
        whatsapp_content_sid=data.whatsapp_content_sid,
        whatsapp_content_variables=data.whatsapp_content_variables,
        email_configuration_id=data.email_configuration_id,
        escalate_after=data.escalate_after,
        escalate_to_user_id=data.escalate_to_user_id,
        sender_identity_ids=sender_identity_ids,
        timezone=timezone,
        schedule=schedule,
        status=Status.scheduled.value,
        next_fire_at=next_fire_at,
        workflow_id=workflow_id_for(str(reminder_id)),
        idempotency_key=idempotency_key,
        request_hash=checks.request_hash(data) if idempotency_key else None,
        created_by_user_id=actor.user.id,
    )
    await trial_render(
        actor.business_id,
        await sample_context(session, actor.business, reminder),
        data.subject,
        data.body,
        data.whatsapp_content_variables,
    )
    client = await temporal()
    workflow_id = reminder.workflow_id
    try:
        await _start_workflow(client, reminder, settings, now)
    except Exception as exc:
        log.warning("could not start %s: %r", workflow_id, exc)
        if isinstance(exc, TimeoutError):  # it may have started after all
            await _terminate_quietly(client, workflow_id, "start timed out")
        detail = exc.status.name if isinstance(exc, RPCError) else exc.__class__.__name__
        raise ServiceUnavailable(
            f"Temporal did not start the reminder ({detail}); nothing was stored, try again"
        ) from None
    return reminder


async def commit_or_terminate(
    session: AsyncSession, actor: Actor, temporal: TemporalGetter, reminder: Reminder
) -> None:
    """Store the new row, with its audit event, in one short transaction; if that fails,
    the workflow it started must not run alone."""
    workflow_id = reminder.workflow_id
    try:
        await ReminderRepository(session).add(reminder)
        actor.record(session, "reminder.created", "reminder", reminder.id, title=reminder.title)
        await session.commit()
    except Exception as exc:
        log.warning("could not store reminder for %s: %r", workflow_id, exc)
        await _terminate_quietly(await temporal(), workflow_id, "the reminder could not be stored")
        raise ServiceUnavailable(
            "The reminder could not be stored; nothing was scheduled, try again"
        ) from None


# -- change ------------------------------------------------------------------------------

_NOT_NULL = ("title", "type", "schedule", "timezone", "fallback", "whatsapp_content_variables")


def _ensure_changeable(reminder: Reminder) -> None:
    if reminder.status in ENDED:
        raise Conflict(f"reminder is {reminder.status}; it can no longer change")


async def _apply_audience(
    session: AsyncSession,
    actor: Actor,
    reminder: Reminder,
    changes: dict[str, Any],
    settings: Settings,
) -> None:
    if changes.get("client_ids") is not None:
        await checks.client_timezones(session, actor, changes["client_ids"])
        reminder.client_ids = [str(client_id) for client_id in changes["client_ids"]]
        reminder.tag = None
    elif changes.get("tag") is not None:
        await checks.check_tag_reach(session, actor, changes["tag"], settings)
        reminder.tag = changes["tag"]
        reminder.client_ids = []
    elif "client_ids" in changes or "tag" in changes:
        raise Unprocessable("a reminder needs client_ids or a tag; give the one that replaces it")


async def _apply_content(
    session: AsyncSession,
    actor: Actor,
    reminder: Reminder,
    changes: dict[str, Any],
    settings: Settings,
) -> None:
    await _apply_audience(session, actor, reminder, changes, settings)
    if changes.get("template_id") is not None:
        await checks.check_template_id(session, actor, changes["template_id"])
    if changes.get("email_configuration_id") is not None:
        await check_configuration_id(session, actor, changes["email_configuration_id"])
    if changes.get("escalate_to_user_id") is not None:
        await checks.check_staff_member(session, actor, changes["escalate_to_user_id"])
    await trial_render(
        actor.business_id,
        await sample_context(session, actor.business, reminder),
        changes.get("subject"),
        changes.get("body"),
        changes.get("whatsapp_content_variables"),
    )
    for name in (
        "title",
        "description",
        "template_id",
        "subject",
        "body",
        "fallback",
        "whatsapp_content_sid",
        "whatsapp_content_variables",
        "email_configuration_id",
        "escalate_after",
        "escalate_to_user_id",
    ):
        if name in changes:
            setattr(reminder, name, changes[name])
    if "type" in changes:
        reminder.type = changes["type"].value
    if "channels" in changes:
        reminder.channels = [channel.value for channel in changes["channels"] or []]
    await apply_sender_identities(session, actor, reminder, changes, settings)
    if reminder.body is None and reminder.template_id is None:
        raise Unprocessable("body: required when the reminder has no template_id")


async def update_reminder(
    session: AsyncSession,
    actor: Actor,
    reminder: Reminder,
    data: ReminderUpdate,
    temporal: TemporalGetter,
    settings: Settings,
) -> Reminder:
    """Content changes go to the row; a schedule or time zone change reschedules the workflow."""
    _ensure_changeable(reminder)
    changes = data.model_dump(exclude_unset=True)
    for name in _NOT_NULL:
        if name in changes and changes[name] is None:
            raise Unprocessable(f"{name}: cannot be null")
    reschedule = "schedule" in changes or "timezone" in changes
    if reschedule:
        timezone = changes.get("timezone", reminder.timezone)
        schedule, next_fire_at = checks.validated_schedule(
            changes.get("schedule", reminder.schedule),
            timezone,
            utcnow(),
            settings.MIN_RECURRENCE_INTERVAL_MINUTES,
            actor.business.country,
        )
    await _apply_content(session, actor, reminder, changes, settings)
    if reschedule:
        args = RescheduleArgs(schedule=schedule, timezone=timezone, by=actor.by)
        await signal_workflow(await temporal(), reminder, ReminderWorkflow.reschedule, args)
        reminder.schedule = schedule
        reminder.timezone = timezone
        reminder.next_fire_at = next_fire_at
    reminder.updated_at = utcnow()
    actor.record(session, "reminder.updated", "reminder", reminder.id, fields=sorted(changes))
    await session.commit()
    return reminder


# Per state change: its signal, the states it is accepted in, the status it leaves.
_TRANSITIONS: dict[str, tuple[Signal[SignalArgs | None], set[str], str]] = {
    "pause": (ReminderWorkflow.pause, {Status.scheduled.value}, Status.paused.value),
    "resume": (ReminderWorkflow.resume, {Status.paused.value}, Status.scheduled.value),
    "complete": (
        ReminderWorkflow.complete,
        {Status.scheduled.value, Status.paused.value, Status.failed.value},
        Status.completed.value,
    ),
}


async def change_state(
    session: AsyncSession, actor: Actor, reminder: Reminder, signal: str, temporal: Client
) -> Reminder:
    """pause, resume or complete: signal the workflow, then record the new status."""
    method, allowed, target = _TRANSITIONS[signal]
    if reminder.status not in allowed:
        raise Conflict(f"cannot {signal} a reminder that is {reminder.status}")
    await signal_workflow(temporal, reminder, method, SignalArgs(by=actor.by))
    reminder.status = target
    if target in ENDED:
        reminder.next_fire_at = None
    if target == Status.completed.value:
        await webhook_events.emit(
            session,
            reminder.business_id,
            webhook_events.REMINDER_COMPLETED,
            {"reminder_id": reminder.id, "source": "api"},
        )
    _record_signal(session, actor, reminder, signal)
    await session.commit()
    return reminder


async def trigger(session: AsyncSession, actor: Actor, reminder: Reminder, temporal: Client) -> str:
    """Ask the workflow to send now; answers the occurrence key the sends will carry."""
    if reminder.status in ENDED:
        raise Conflict(f"cannot trigger a reminder that is {reminder.status}")
    request_id = str(uuid.uuid4())
    await signal_workflow(
        temporal,
        reminder,
        ReminderWorkflow.trigger_now,
        TriggerArgs(by=actor.by, request_id=request_id),
    )
    key = manual_key(request_id)
    _record_signal(session, actor, reminder, "trigger_now", occurrence_key=key)
    await session.commit()
    return key


async def cancel(session: AsyncSession, actor: Actor, reminder: Reminder, temporal: Client) -> None:
    """Stop the workflow for good; the row stays, `cancelled`, for its history."""
    if reminder.status == Status.cancelled.value:
        return
    if reminder.status == Status.completed.value:
        raise Conflict("reminder is completed; there is nothing left to cancel")
    try:
        await signal_workflow(temporal, reminder, ReminderWorkflow.cancel, SignalArgs(by=actor.by))
    except Conflict:
        pass  # the workflow is already gone: cancelling the row is all that is left to do
    reminder.status = Status.cancelled.value
    reminder.next_fire_at = None
    _record_signal(session, actor, reminder, "cancel")
    await session.commit()


def _record_signal(
    session: AsyncSession, actor: Actor, reminder: Reminder, signal: str, **payload: Any
) -> None:
    actor.record(session, "reminder.signal", "reminder", reminder.id, signal=signal, **payload)
