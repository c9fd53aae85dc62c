"""The data that crosses the workflow boundary: inputs, signal arguments, activity requests
and results. Small dataclasses of ids and primitives; shared by the API, the workflow and
the activities (pure: no I/O, importable inside the workflow sandbox)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

WORKFLOW_TYPE = "ReminderWorkflow"


def workflow_id_for(reminder_id: str) -> str:
    return f"reminder-{reminder_id}"


# The activities the workflows run, by the name the worker registers them under: one table,
# so the workflow, the worker and the history reader cannot disagree on a name
# (tests/activities/test_registry.py checks the worker registers each of them).
RESOLVE_TARGETS = "resolve_targets"
RECORD_SKIPPED = "record_skipped"
RECORD_DEFERRAL = "record_deferral"
SYNC_REMINDER = "sync_reminder"
ESCALATE_CLIENT = "escalate_client"
CHECK_DATABASE = "check_database"
DELIVER_WEBHOOK = "deliver_webhook"
GIVE_UP_WEBHOOK = "give_up_webhook"
SEND_PREFIX = "send_"
SEND_CHANNELS = ("email", "sms", "whatsapp")


def send_activity(channel: str) -> str:
    """The name of the activity that sends on `channel`: send_email, send_sms, ..."""
    return f"{SEND_PREFIX}{channel}"


ACTIVITY_NAMES = (
    RESOLVE_TARGETS,
    RECORD_SKIPPED,
    RECORD_DEFERRAL,
    SYNC_REMINDER,
    ESCALATE_CLIENT,
    CHECK_DATABASE,
    DELIVER_WEBHOOK,
    GIVE_UP_WEBHOOK,
    *(send_activity(channel) for channel in SEND_CHANNELS),
)


# Occurrence keys of sends that are not scheduled occurrences: a trigger's and a resend's.
MANUAL_PREFIX = "manual-"
RESEND_PREFIX = "resend-"


def manual_key(request_id: str) -> str:
    """The occurrence key of the sends a `trigger_now` with this request id makes."""
    return f"{MANUAL_PREFIX}{request_id}"


def resend_key(request_id: str) -> str:
    """The occurrence key of the delivery a resend with this request id makes."""
    return f"{RESEND_PREFIX}{request_id}"


def is_manual_key(key: str) -> bool:
    return key.startswith(MANUAL_PREFIX)


# ApplicationError types the send activity raises and the workflow (and an operator in the
# Web UI) tells apart: a permanent failure stops at once, an unavailable provider retries.
PERMANENT_FAILURE = "DeliveryFailed"
RETRYABLE_FAILURE = "ProviderUnavailable"
# A delivery's error_code when the worker could not tell whether the provider took the
# message; only the provider's status callback can settle it.
OUTCOME_UNKNOWN = "outcome_unknown"


@dataclass
class ReminderInput:
    reminder_id: str
    business_id: str
    schedule: dict[str, Any]
    timezone: str
    grace_seconds: int = 3600
    # Continue-as-new once the history holds this many events (well under Temporal's limits).
    history_limit: int = 2000
    request_id: str | None = None
    # State carried across continue-as-new; a fresh reminder starts with the defaults.
    state: str = "scheduled"
    cursor: str | None = None
    occurrences_sent: int = 0
    last_fired_at: str | None = None
    last_occurrence: str | None = None
    pending_triggers: list[TriggerArgs] = field(default_factory=list)
    pending_resends: list[ResendArgs] = field(default_factory=list)
    # Each recent period's clients: who is done, how many occurrences reached each one
    # not done, who was escalated (period key -> ...); and the period last fired.
    progress: Progress | None = None


@dataclass
class Progress:
    """Per period (keyed by its due time, as an occurrence key), per client: carried across
    continue-as-new, only for the last few periods."""

    period: str | None = None
    done: dict[str, list[str]] = field(default_factory=dict)
    sends: dict[str, dict[str, int]] = field(default_factory=dict)
    escalated: dict[str, list[str]] = field(default_factory=dict)


@dataclass
class SignalArgs:
    """Optional on every signal, so `temporal workflow signal --name pause` works bare."""

    by: str | None = None
    reason: str | None = None


@dataclass
class TriggerArgs:
    by: str | None = None
    request_id: str | None = None


@dataclass
class ResendArgs:
    """Send one delivery again, now: the same client and channel, a new occurrence key
    (`resend-<request_id>`) and a new delivery row that names the original (`resend_of`)."""

    delivery_id: str
    client_id: str
    channel: str
    request_id: str
    by: str | None = None
    # Set when this is a fallback after a late failure (a status callback said the message
    # on this channel failed after it was accepted): the channel that failed; `channel` is
    # then the client's next one.
    fallback_from: str | None = None


@dataclass
class ClientDoneArgs:
    """A client is done for a period (`POST /reminders/{id}/clients/{client_id}/done`, the
    client's own link, or "DONE" by SMS or WhatsApp): no more messages to them for it."""

    client_id: str
    period: str
    source: str = "staff"  # staff, client, sms, whatsapp
    by: str | None = None
    note: str | None = None
    files: list[str] = field(default_factory=list)


@dataclass
class EscalateRequest:
    """Tell the reminder's staff member that a client has not answered `sends` messages."""

    reminder_id: str
    client_id: str
    period: str
    sends: int


@dataclass
class RescheduleArgs:
    schedule: dict[str, Any] | None = None
    timezone: str | None = None
    by: str | None = None


@dataclass
class ReminderStatus:
    state: str
    next_fire_at: str | None
    occurrences_sent: int
    last_occurrence: str | None
    last_fired_at: str | None


@dataclass
class Target:
    client_id: str
    channel: str
    # The business's send window ("09:00", "18:00"), local to `timezone` (the client's, else
    # the business's); set only for channels it applies to (SMS and WhatsApp).
    window_start: str | None = None
    window_end: str | None = None
    timezone: str | None = None
    # The client's next channels, in order, when the reminder falls back on a permanent
    # failure of this one (each with its own window, if any).
    fallbacks: list[Target] = field(default_factory=list)


@dataclass
class TargetsRequest:
    reminder_id: str
    occurrence_key: str
    period: str | None = None


@dataclass
class Targets:
    exists: bool
    targets: list[Target] = field(default_factory=list)
    # Which occurrence these are for: a local activity's marker in the history keeps its
    # result but not its input, and the reminder's history page names the occurrence.
    occurrence_key: str | None = None
    # Escalate a client not done after this many occurrences of a period (None: never).
    escalate_after: int | None = None
    # The occurrence's period, echoed like occurrence_key (the history page says who of
    # these targets were done for it).
    period: str | None = None


@dataclass
class SendRequest:
    reminder_id: str
    client_id: str
    channel: str
    occurrence_key: str
    scheduled_for: str
    request_id: str | None = None
    # Set on a fallback send: the channel that failed permanently before it.
    fallback_from: str | None = None
    # Set on a resend: the delivery this one sends again.
    resend_of: str | None = None
    # The period the send belongs to (its done link names it); None before periods.
    period: str | None = None


@dataclass
class DeferRequest:
    """A send held until the send window opens, recorded on its delivery row."""

    reminder_id: str
    client_id: str
    channel: str
    occurrence_key: str
    scheduled_for: str
    until: str
    fallback_from: str | None = None
    # Set when the reminder stopped (cancelled, completed, paused) before the window opened:
    # the held send is recorded as skipped for that reason instead.
    stopped: str | None = None


@dataclass
class SendResult:
    delivery_id: str
    status: str
    provider_message_id: str | None = None
    error_code: str | None = None
    error_message: str | None = None


@dataclass
class SkipRequest:
    reminder_id: str
    occurrence_key: str
    scheduled_for: str
    reason: str  # "paused", "missed", or the state that stopped a deferred send


@dataclass
class SyncRequest:
    """The workflow's view of the reminder, written back to its database row."""

    reminder_id: str
    state: str
    next_fire_at: str | None
    occurrences_sent: int
    last_fired_at: str | None
    # Rides along with a change of the fields above; never a reason to sync on its own
    # (that would add a command to histories recorded without it).
    last_occurrence: str | None = None
