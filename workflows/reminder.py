"""ReminderWorkflow: one per reminder, `reminder-<id>`. Sleeps durably until each occurrence,
fans out one send activity per (client, channel), and obeys signals while it sleeps.

Deterministic: time from `workflow.now()`, occurrences from the pure schedule module, and
everything that touches the outside world in activities.
"""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from workflows import schedule as schedules
    from workflows.contracts import (
        RECORD_SKIPPED,
        RESOLVE_TARGETS,
        SYNC_REMINDER,
        ClientDoneArgs,
        ReminderInput,
        ReminderStatus,
        RescheduleArgs,
        ResendArgs,
        SignalArgs,
        SkipRequest,
        SyncRequest,
        Target,
        Targets,
        TargetsRequest,
        TriggerArgs,
        manual_key,
        resend_key,
    )
    from workflows.progress import ClientProgress
    from workflows.search_attributes import NEXT_FIRE_TIME, REMINDER_STATE
    from workflows.sending import (
        BOOKKEEPING_RETRY,
        CANCELLED,
        CLIENT_DONE_PATCH,
        COMPLETED,
        ENDED,
        PAUSED,
        RESEND_PATCH,
        SCHEDULED,
        Sends,
        window_opens,
    )

# Sends run this many at a time, so a tag with many clients drains steadily.
FAN_OUT_BATCH = 50

# Who to send to and the row's state are read and written as local activities: they run
# inside the workflow task, with no activity task for the server to queue and hand out and
# no workflow task to wake the workflow afterwards (two of each per occurrence before).
LOCAL_BOOKKEEPING_PATCH = "local-bookkeeping-v1"
# Escalation after N sends without "done" (CLIENT_DONE_PATCH: workflows/sending.py).
ESCALATION_PATCH = "escalation-v1"
BOOKKEEPING_TIMEOUT = timedelta(seconds=30)


def _same_state(view: SyncRequest, published: SyncRequest) -> bool:
    """Equal but for last_occurrence, which changes only with the others (a fire counts,
    a skip moves next_fire_at): comparing it would not change which runs sync, but this
    keeps histories recorded before it was carried certain to replay."""
    return dataclasses.replace(view, last_occurrence=None) == dataclasses.replace(
        published, last_occurrence=None
    )


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _parse(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


@workflow.defn(name="ReminderWorkflow", sandboxed=False)
class ReminderWorkflow(Sends):
    @workflow.init
    def __init__(self, data: ReminderInput) -> None:
        # State comes from the input here, not in run(), so a signal that arrives before
        # the first workflow task (a pause right after create) applies on top of it.
        self._input = data
        self._state = data.state
        self._schedule: dict[str, Any] = data.schedule
        self._timezone = data.timezone
        self._cursor: datetime | None = _parse(data.cursor)
        self._next: schedules.Occurrence | None = None
        self._occurrences_sent = data.occurrences_sent
        self._last_fired_at: str | None = data.last_fired_at
        self._last_occurrence: str | None = data.last_occurrence
        self._triggers: list[TriggerArgs] = list(data.pending_triggers)
        self._resends: list[ResendArgs] = list(data.pending_resends)
        self._wake = False
        self._published: SyncRequest | None = None
        self._progress = ClientProgress(data.progress)

    # -- signals and query -------------------------------------------------------------

    @workflow.signal
    def trigger_now(self, args: TriggerArgs | None = None) -> None:
        self._triggers.append(args or TriggerArgs())
        self._wake = True

    @workflow.signal
    def resend(self, args: ResendArgs | None = None) -> None:
        """Send one delivery again, now (`POST /notifications/{id}/resend`)."""
        if args is not None:
            self._resends.append(args)
            self._wake = True

    @workflow.signal
    def client_done(self, args: ClientDoneArgs | None = None) -> None:
        """A client is done for a period: none of its later messages go to them."""
        if args is not None:
            self._progress.mark_done(args)

    @workflow.signal
    def pause(self, args: SignalArgs | None = None) -> None:
        if self._state == SCHEDULED:
            self._state = PAUSED
            self._wake = True

    @workflow.signal
    def resume(self, args: SignalArgs | None = None) -> None:
        if self._state == PAUSED:
            self._state = SCHEDULED
            self._wake = True

    @workflow.signal
    def reschedule(self, args: RescheduleArgs | None = None) -> None:
        if args is None or self._state in ENDED:
            return
        if args.schedule is not None:
            self._schedule = args.schedule
        if args.timezone is not None:
            self._timezone = args.timezone
        # The new schedule takes effect from now on: nothing before now fires late.
        now = workflow.now()
        if self._cursor is None or self._cursor < now:
            self._cursor = now
        self._wake = True

    @workflow.signal
    def complete(self, args: SignalArgs | None = None) -> None:
        if self._state not in ENDED:
            self._state = COMPLETED
            self._wake = True

    @workflow.signal
    def cancel(self, args: SignalArgs | None = None) -> None:
        if self._state not in ENDED:
            self._state = CANCELLED
            self._wake = True

    @workflow.query
    def status(self) -> ReminderStatus:
        return ReminderStatus(
            state=self._state,
            next_fire_at=_iso(self._next.at) if self._next and self._state not in ENDED else None,
            occurrences_sent=self._occurrences_sent,
            last_occurrence=self._last_occurrence,
            last_fired_at=self._last_fired_at,
        )

    # -- main loop ---------------------------------------------------------------------

    @workflow.run
    async def run(self, data: ReminderInput) -> ReminderStatus:
        while self._state not in ENDED:
            # Reset before reading the state: a signal from here on wakes the sleep below.
            self._wake = False
            self._next = schedules.next_occurrence(self._schedule, self._timezone, self._cursor)
            if self._next is None and not self._triggers:
                self._state = COMPLETED  # the schedule has no more occurrences
                break
            await self._publish()
            await self._sleep_until_due_or_signal()
            await self._fire_triggers()
            await self._fire_resends()
            if self._state in ENDED:
                break
            await self._handle_due_occurrence()
            if self._should_continue_as_new():
                workflow.continue_as_new(self._carry_over())
        self._next = None
        await self._publish()
        # A resend asked for as the reminder completed still goes out (none when cancelled).
        await self._fire_resends()
        return self.status()

    def _carry_over(self) -> ReminderInput:
        return ReminderInput(
            reminder_id=self._input.reminder_id,
            business_id=self._input.business_id,
            schedule=self._schedule,
            timezone=self._timezone,
            grace_seconds=self._input.grace_seconds,
            history_limit=self._input.history_limit,
            request_id=self._input.request_id,
            state=self._state,
            cursor=_iso(self._cursor),
            occurrences_sent=self._occurrences_sent,
            last_fired_at=self._last_fired_at,
            last_occurrence=self._last_occurrence,
            pending_triggers=list(self._triggers),
            pending_resends=list(self._resends),
            progress=self._progress.carried(),
        )

    def _should_continue_as_new(self) -> bool:
        info = workflow.info()
        return (
            info.get_current_history_length() >= self._input.history_limit
            or info.is_continue_as_new_suggested()
        )

    async def _sleep_until_due_or_signal(self) -> None:
        if self._wake or self._triggers or self._resends:
            return
        if self._next is None:
            await workflow.wait_condition(lambda: self._wake)
            return
        delay = self._next.at - workflow.now()
        if delay <= timedelta(0):
            return
        try:
            await workflow.wait_condition(lambda: self._wake, timeout=delay)
        except TimeoutError:
            pass

    async def _handle_due_occurrence(self) -> None:
        occurrence = self._next
        if self._wake or occurrence is None or workflow.now() < occurrence.at:
            return  # a signal changed things, or it is not due yet: the loop recomputes
        self._cursor = occurrence.at
        self._progress.enter(occurrence.period)
        lateness = workflow.now() - occurrence.at
        if self._state == PAUSED:
            await self._skip(occurrence, "paused")
        elif lateness > timedelta(seconds=self._input.grace_seconds):
            await self._skip(occurrence, "missed")
        else:
            await self._fire(occurrence.key, occurrence.at, occurrence.period)

    async def _fire_triggers(self) -> None:
        while self._triggers and self._state not in ENDED:
            trigger = self._triggers.pop(0)
            now = workflow.now()
            key = manual_key(trigger.request_id or str(workflow.uuid4()))
            await self._fire(key, now, self._current_period(key))

    async def _fire_resends(self) -> None:
        """Each resend is one send on the original's client and channel, now: no send
        window, no fallback, and not an occurrence (the counts stay as they are)."""
        while self._resends and self._state != CANCELLED:
            resend = self._resends.pop(0)
            # Histories from before resends never received one, so never get here; the
            # marker records, for later changes, that this run knows resends.
            if not workflow.patched(RESEND_PATCH):
                continue  # pragma: no cover
            target = Target(client_id=resend.client_id, channel=resend.channel)
            key = resend_key(resend.request_id)
            try:
                await self._send(
                    target,
                    key,
                    workflow.now(),
                    fallback_from=resend.fallback_from,
                    resend_of=resend.delivery_id,
                )
            except ActivityError:
                pass  # the new delivery row says how it failed

    def _current_period(self, key: str) -> str:
        """A trigger's period: the one last fired, else the next occurrence's."""
        if self._progress.period is not None:
            return self._progress.period
        return self._next.period if self._next is not None else key

    # -- side effects, all through activities ------------------------------------------

    async def _fire(self, key: str, scheduled_for: datetime, period: str) -> None:
        targets: Targets = await self._bookkeeping(
            RESOLVE_TARGETS,
            TargetsRequest(reminder_id=self._input.reminder_id, occurrence_key=key, period=period),
            Targets,
        )
        if not targets.exists:
            self._state = CANCELLED  # the reminder's row is gone: nothing left to send
            return
        sendable = targets.targets
        # Histories from before clients could be done never had one done, so never get here.
        if self._progress.anyone_done(period) and workflow.patched(CLIENT_DONE_PATCH):
            sendable = self._progress.not_done(sendable, period)
        # Sends that can go now first: a batch never waits on one held for the send window.
        now = workflow.now()
        ordered = sorted(sendable, key=lambda target: window_opens(target, now) or now)
        for start in range(0, len(ordered), FAN_OUT_BATCH):
            batch = ordered[start : start + FAN_OUT_BATCH]
            await asyncio.gather(
                *(self._deliver(target, key, scheduled_for, period) for target in batch),
                return_exceptions=True,  # one failing send never stops the others
            )
        if targets.escalate_after and sendable and workflow.patched(ESCALATION_PATCH):
            await self._escalate(sendable, period, targets.escalate_after)
        self._occurrences_sent += 1
        self._last_fired_at = _iso(workflow.now())
        self._last_occurrence = key

    async def _skip(self, occurrence: schedules.Occurrence, reason: str) -> None:
        await workflow.execute_activity(
            RECORD_SKIPPED,
            SkipRequest(
                reminder_id=self._input.reminder_id,
                occurrence_key=occurrence.key,
                scheduled_for=occurrence.at.isoformat(),
                reason=reason,
            ),
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=BOOKKEEPING_RETRY,
        )
        self._last_occurrence = occurrence.key

    async def _publish(self) -> None:
        """Keep the search attributes and the database row in step with the workflow."""
        next_at = self._next.at if self._next and self._state not in ENDED else None
        view = SyncRequest(
            reminder_id=self._input.reminder_id,
            state=self._state,
            next_fire_at=_iso(next_at),
            occurrences_sent=self._occurrences_sent,
            last_fired_at=self._last_fired_at,
            last_occurrence=self._last_occurrence,
        )
        if self._published is not None and _same_state(view, self._published):
            return  # nothing changed: no history events spent
        workflow.upsert_search_attributes(
            [
                REMINDER_STATE.value_set(self._state),
                NEXT_FIRE_TIME.value_set(next_at) if next_at else NEXT_FIRE_TIME.value_unset(),
            ]
        )
        await self._bookkeeping(SYNC_REMINDER, view)
        self._published = view

    async def _bookkeeping(self, name: str, arg: Any, result_type: type | None = None) -> Any:
        """Reading or writing our own database: a local activity (runs that began before
        the patch keep the activity tasks their history has)."""
        if workflow.patched(LOCAL_BOOKKEEPING_PATCH):
            return await workflow.execute_local_activity(
                name,
                arg,
                result_type=result_type,
                start_to_close_timeout=BOOKKEEPING_TIMEOUT,
                retry_policy=BOOKKEEPING_RETRY,
            )
        return await workflow.execute_activity(
            name,
            arg,
            result_type=result_type,
            start_to_close_timeout=BOOKKEEPING_TIMEOUT,
            retry_policy=BOOKKEEPING_RETRY,
        )
