"""Signalling a reminder's workflow from a request: the call through
workflows/reminder_client.py, its failures as the API's errors (409 when the workflow is
not running, 503 when Temporal fails)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from typing import Any, TypeVar

from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from api.errors import Conflict, ServiceUnavailable
from core.models import Reminder
from workflows import reminder_client as temporal_calls
from workflows.reminder_client import Signal

log = logging.getLogger(__name__)

ArgT = TypeVar("ArgT")

SIGNAL_TIMEOUT = 5.0


async def reach_temporal(call: Awaitable[Any], reminder: Reminder, what: str) -> None:
    """Await a signal (or signal-with-start); 409 when the workflow is not running, 503
    when Temporal fails."""
    try:
        await asyncio.wait_for(call, SIGNAL_TIMEOUT + 1)
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            raise Conflict("reminder is not running") from None
        log.warning("%s to %s failed: %s", what, reminder.workflow_id, exc)
        raise ServiceUnavailable(f"Temporal did not take the signal ({exc.status.name})") from None
    except Exception as exc:  # a timeout or a broken connection: Temporal is unavailable
        log.warning("%s to %s failed: %r", what, reminder.workflow_id, exc)
        raise ServiceUnavailable(
            f"Temporal did not take the signal ({exc.__class__.__name__}); try again"
        ) from None


async def signal_workflow(
    temporal: Client, reminder: Reminder, signal: Signal[ArgT], arg: ArgT
) -> None:
    """Send one of ReminderWorkflow's signals, named by its method (a renamed or mistyped
    signal fails the type check, not a request); 409 when the workflow is not running, 503
    when Temporal fails."""
    call = temporal_calls.signal(
        temporal, reminder.workflow_id, signal, arg, timeout=SIGNAL_TIMEOUT
    )
    await reach_temporal(call, reminder, f"signal {signal.__name__}")
