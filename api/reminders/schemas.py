from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from api.schemas import InputModel, ReadModel
from api.validation import ChannelList, Name, check_timezone
from core.enums import Channel, ReminderStatus, ReminderType

MAX_CLIENTS = 200
MAX_BODY_CHARS = 50_000

BoundedTimezone = Annotated[str, StringConstraints(max_length=64), AfterValidator(check_timezone)]
Tag = Annotated[
    str, StringConstraints(strip_whitespace=True, to_lower=True, min_length=1, max_length=64)
]
Subject = Annotated[str, Field(max_length=500)]
Description = Annotated[
    str,
    Field(
        max_length=2000,
        description="What the reminder is for, for staff (and `{{ reminder.description }}`).",
    ),
]


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be blank")
    return value


Body = Annotated[str, Field(max_length=MAX_BODY_CHARS), AfterValidator(_not_blank)]
ClientIds = Annotated[list[uuid.UUID], Field(min_length=1, max_length=MAX_CLIENTS)]
# Checked by workflows.schedule.validate_schedule in the service, which needs the time zone.
Schedule = Annotated[dict[str, Any], Field(description="once, recurring or deadline; see API.md")]


ContentSid = Annotated[
    str,
    StringConstraints(pattern=r"^HX[0-9a-fA-F]{32}$"),
    Field(description="An approved WhatsApp template (Twilio Content SID, HX...)"),
]
ContentVariables = Annotated[
    dict[
        Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_]{1,32}$")],
        Annotated[str, Field(max_length=1000)],
    ],
    Field(
        max_length=20,
        description='Template variables, e.g. {"1": "{{ client.name }}"}; values render like '
        "the body.",
    ),
]

SenderIdentityIds = Annotated[
    dict[Channel, uuid.UUID],
    Field(
        description='The sender identity to send as, per channel: {"email": "<id>", "sms": '
        '"<id>", "whatsapp": "<id>"}. Each must be the business\'s, of that channel (and '
        "verified where sending requires it); a channel left out sends as its default.",
    ),
]


def _unique(ids: list[uuid.UUID] | None) -> list[uuid.UUID] | None:
    return None if ids is None else list(dict.fromkeys(ids))


class _ReminderInput(InputModel):
    # Whitespace in a message is content, and stripping it would shift the line numbers
    # that template errors report; titles and tags strip through their own types.
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)

    _dedupe = field_validator("client_ids", check_fields=False)(_unique)


class ReminderCreate(_ReminderInput):
    title: Name
    description: Description | None = None
    type: ReminderType
    client_ids: ClientIds | None = None
    tag: Tag | None = None
    channels: ChannelList | None = None
    template_id: uuid.UUID | None = None
    subject: Subject | None = None
    body: Body | None = None
    timezone: BoundedTimezone | None = None
    schedule: Schedule
    fallback: bool = Field(
        default=False,
        description="When a channel fails permanently for a client (an address refused, a "
        "number unsubscribed), send on the client's next channel instead.",
    )
    whatsapp_content_sid: ContentSid | None = None
    whatsapp_content_variables: ContentVariables = Field(default_factory=dict)
    email_configuration_id: uuid.UUID | None = Field(
        default=None,
        description="The business's SMTP server (an email configuration) this reminder's "
        "email goes through; else the sender identity's, else the business's default.",
    )
    escalate_after: int | None = Field(
        default=None,
        ge=1,
        le=100,
        description="After this many messages of a period without the client being done, "
        "email escalate_to_user_id (else the reminder's creator) about that client, once.",
    )
    escalate_to_user_id: uuid.UUID | None = Field(
        default=None, description="A staff member of the business who is told."
    )
    sender_identity_ids: SenderIdentityIds | None = None

    @model_validator(mode="after")
    def _one_audience_and_a_body(self) -> ReminderCreate:
        if (self.client_ids is None) == (self.tag is None):
            raise ValueError("give exactly one of client_ids or tag")
        if self.body is None and self.template_id is None:
            raise ValueError("body is required when no template_id is given")
        return self


class ReminderUpdate(_ReminderInput):
    """Every field optional; `client_ids` replaces `tag` and the other way round."""

    title: Name | None = None
    description: Description | None = None
    type: ReminderType | None = None
    client_ids: ClientIds | None = None
    tag: Tag | None = None
    channels: ChannelList | None = None
    template_id: uuid.UUID | None = None
    subject: Subject | None = None
    body: Body | None = None
    timezone: BoundedTimezone | None = None
    schedule: Schedule | None = None
    fallback: bool | None = None
    whatsapp_content_sid: ContentSid | None = None
    whatsapp_content_variables: ContentVariables | None = None
    email_configuration_id: uuid.UUID | None = Field(
        default=None,
        description="The business's SMTP server (an email configuration) this reminder's "
        "email goes through; null clears it.",
    )
    escalate_after: int | None = Field(
        default=None,
        ge=1,
        le=100,
        description="After this many messages of a period without the client being done, "
        "email escalate_to_user_id (else the reminder's creator) about that client, once; "
        "null stops escalating.",
    )
    escalate_to_user_id: uuid.UUID | None = Field(
        default=None, description="A staff member of the business who is told."
    )
    sender_identity_ids: SenderIdentityIds | None = Field(
        default=None, description="Replaces the whole map; null or {} sends as each default."
    )

    @model_validator(mode="after")
    def _one_audience(self) -> ReminderUpdate:
        if self.client_ids is not None and self.tag is not None:
            raise ValueError("give client_ids or tag, not both")
        return self


class ReminderRead(ReadModel):
    id: uuid.UUID
    title: str
    description: str | None = None
    type: ReminderType
    client_ids: list[uuid.UUID]
    tag: str | None
    channels: list[Channel]
    template_id: uuid.UUID | None
    subject: str | None
    body: str | None
    timezone: str
    schedule: dict[str, Any]
    fallback: bool
    whatsapp_content_sid: str | None
    whatsapp_content_variables: dict[str, str]
    email_configuration_id: uuid.UUID | None
    escalate_after: int | None = None
    escalate_to_user_id: uuid.UUID | None = None
    sender_identity_ids: dict[Channel, uuid.UUID] = Field(default_factory=dict)
    workflow_id: str
    status: ReminderStatus
    next_fire_at: datetime | None
    occurrences_sent: int
    last_fired_at: datetime | None
    created_at: datetime
    updated_at: datetime

    @field_validator("sender_identity_ids", mode="before")
    @classmethod
    def _none_is_empty(cls, value: Any) -> Any:
        return {} if value is None else value


class ReminderDetail(ReminderRead):
    live: bool = Field(
        description="True when status and times come from the running workflow, "
        "false when they are the stored row's (Temporal unreachable or the reminder ended)."
    )
    last_occurrence: str | None = None


class TriggerAccepted(ReadModel):
    accepted: bool = True
    occurrence_key: str


class DeliveryRead(ReadModel):
    id: uuid.UUID
    reminder_id: uuid.UUID
    client_id: uuid.UUID | None
    channel: Channel
    occurrence_key: str
    status: str
    attempts: int
    to_address: str | None
    subject: str | None
    body: str | None
    provider_message_id: str | None
    error_code: str | None
    error_message: str | None
    fallback_from: Channel | None = Field(
        default=None, description="Sent on this channel because that one failed permanently."
    )
    deferred_until: datetime | None = Field(
        default=None, description="Held until the business's send window opened."
    )
    resend_of: uuid.UUID | None = Field(
        default=None, description="A resend: the delivery this one sent again."
    )
    scheduled_for: datetime | None
    sent_at: datetime | None
    delivered_at: datetime | None
    created_at: datetime


class HistoryEntry(ReadModel):
    at: datetime
    kind: str
    text: str
    details: dict[str, Any]


class HistoryResponse(ReadModel):
    workflow_id: str
    runs: int = Field(
        description="Workflow runs read: a long recurrence continues as new, and a resend "
        "after the reminder ended runs on its own."
    )
    items: list[HistoryEntry]
    total: int
