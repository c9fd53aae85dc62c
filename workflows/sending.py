"""How ReminderWorkflow reaches one client: hold for the send window, send on a channel,
fall back to the client's next channel on a permanent failure, and tell staff about a
client who has not answered (escalation). A mixin of the workflow, deterministic like it:
every side effect is an activity."""

from __future__ import annotations

from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, RetryState

with workflow.unsafe.imports_passed_through():
    from workflows import window as windows
    from workflows.contracts import (
        ESCALATE_CLIENT,
        PERMANENT_FAILURE,
        RECORD_DEFERRAL,
        DeferRequest,
        EscalateRequest,
        ReminderInput,
        SendRequest,
        SendResult,
        Target,
        send_activity,
    )
    from workflows.progress import ClientProgress

SCHEDULED, PAUSED, COMPLETED, CANCELLED = "scheduled", "paused", "completed", "cancelled"
ENDED = {COMPLETED, CANCELLED}

BOOKKEEPING_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=1)
)
# Provider outages (timeouts, connection errors, 429, 5xx, SMTP 4xx) are retried with
# backoff for hours; permanent failures (an invalid or unsubscribed address, a rejected
# message, SMTP 5xx) are raised as non-retryable PERMANENT_FAILURE and stop at once.
SEND_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=5),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=15),
    maximum_attempts=20,
    non_retryable_error_types=[PERMANENT_FAILURE],
)
# Behaviour added while reminders were running; each new command path sits behind its patch.
SEND_WINDOW_PATCH = "send-window-v1"
FALLBACK_PATCH = "channel-fallback-v1"
RESEND_PATCH = "resend-v1"
# Sends heartbeat: a dead worker's send is retried after SEND_HEARTBEAT_TIMEOUT, not after
# the whole start-to-close timeout (which can then allow for slow servers).
SEND_HEARTBEAT_PATCH = "send-heartbeat-v1"
SEND_HEARTBEAT_TIMEOUT = timedelta(seconds=10)
SEND_TIMEOUT = timedelta(minutes=5)
SEND_TIMEOUT_BEFORE_HEARTBEATS = timedelta(seconds=60)
# Clients done for a period get no more of its messages (patched in ReminderWorkflow too).
CLIENT_DONE_PATCH = "client-done-v1"


def window_opens(target: Target, now: datetime) -> datetime | None:
    """When the target's send window next opens; None when it is open (or has none)."""
    if target.window_start is None or target.window_end is None or target.timezone is None:
        return None
    return windows.next_open(now, target.window_start, target.window_end, target.timezone)


def _failed_for_good(err: ActivityError) -> bool:
    """A permanent provider failure, or an outage that outlasted every retry."""
    cause = err.cause
    if isinstance(cause, ApplicationError) and cause.type == PERMANENT_FAILURE:
        return True
    return err.retry_state == RetryState.MAXIMUM_ATTEMPTS_REACHED


class Sends:
    """The sending steps; ReminderWorkflow holds the state they read."""

    _input: ReminderInput
    _state: str
    _progress: ClientProgress

    async def _escalate(self, sendable: list[Target], period: str, after: int) -> None:
        """Tell the staff member about each client who has now had `after` messages of
        the period without being done (once per client and period)."""
        clients = [target.client_id for target in sendable]
        for client_id in self._progress.count_sends(clients, period, after):
            request = EscalateRequest(self._input.reminder_id, client_id, period, after)
            try:
                await workflow.execute_activity(
                    ESCALATE_CLIENT,
                    request,
                    start_to_close_timeout=timedelta(minutes=2),
                    retry_policy=SEND_RETRY,
                )
            except ActivityError:
                pass  # the reminder goes on; the worker's log says why

    async def _deliver(
        self,
        target: Target,
        key: str,
        scheduled_for: datetime,
        period: str | None = None,
        fallback_from: str | None = None,
    ) -> SendResult | None:
        """One client on one channel: wait for the send window, send, and on a permanent
        failure go on to the client's next channel when the reminder asks for it."""
        if not await self._wait_for_window(target, key, scheduled_for, fallback_from, period):
            return None
        try:
            return await self._send(target, key, scheduled_for, fallback_from, period=period)
        except ActivityError as err:
            if not (target.fallbacks and _failed_for_good(err)):
                raise
            if not workflow.patched(FALLBACK_PATCH):
                raise  # pragma: no cover - histories from before fallback never get here
            following, *rest = target.fallbacks
            following.fallbacks = rest
            return await self._deliver(following, key, scheduled_for, period, target.channel)

    async def _wait_for_window(
        self,
        target: Target,
        key: str,
        scheduled_for: datetime,
        fallback_from: str | None,
        period: str | None = None,
    ) -> bool:
        """Hold an SMS or WhatsApp send until the business's send window opens in the
        client's time zone; False when the reminder stopped meanwhile, or the client was
        marked done for the period (recorded as skipped)."""
        opens = window_opens(target, workflow.now())
        if opens is None or not workflow.patched(SEND_WINDOW_PATCH):
            return True
        request = DeferRequest(
            reminder_id=self._input.reminder_id,
            client_id=target.client_id,
            channel=target.channel,
            occurrence_key=key,
            scheduled_for=scheduled_for.isoformat(),
            until=opens.isoformat(),
            fallback_from=fallback_from,
        )
        await self._record_deferral(request)

        def done() -> bool:
            return period is not None and self._progress.is_done(target.client_id, period)

        try:
            await workflow.wait_condition(
                lambda: self._state in ENDED or done(), timeout=opens - workflow.now()
            )
        except TimeoutError:
            pass
        # A client done meanwhile only in histories that know clients can be done.
        client_done = done() and workflow.patched(CLIENT_DONE_PATCH)
        if self._state == SCHEDULED and not client_done:
            return True
        request.stopped = "done" if client_done else self._state
        await self._record_deferral(request)
        return False

    async def _record_deferral(self, request: DeferRequest) -> None:
        await workflow.execute_activity(
            RECORD_DEFERRAL,
            request,
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=BOOKKEEPING_RETRY,
        )

    async def _send(
        self,
        target: Target,
        key: str,
        scheduled_for: datetime,
        fallback_from: str | None = None,
        resend_of: str | None = None,
        period: str | None = None,
    ) -> SendResult:
        heartbeats = workflow.patched(SEND_HEARTBEAT_PATCH)
        return await workflow.execute_activity(
            send_activity(target.channel),
            SendRequest(
                reminder_id=self._input.reminder_id,
                client_id=target.client_id,
                channel=target.channel,
                occurrence_key=key,
                scheduled_for=scheduled_for.isoformat(),
                request_id=self._input.request_id,
                fallback_from=fallback_from,
                resend_of=resend_of,
                period=period,
            ),
            result_type=SendResult,
            start_to_close_timeout=SEND_TIMEOUT if heartbeats else SEND_TIMEOUT_BEFORE_HEARTBEATS,
            heartbeat_timeout=SEND_HEARTBEAT_TIMEOUT if heartbeats else None,
            retry_policy=SEND_RETRY,
        )
