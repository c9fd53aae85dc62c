from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Annotated

from pydantic import (
    AfterValidator,
    BeforeValidator,
    EmailStr,
    Field,
    StringConstraints,
    computed_field,
)

from api.schemas import InputModel, ReadModel
from api.validation import Name, check_phone
from core.enums import Channel

WHATSAPP_PREFIX = "whatsapp:"


def _drop_whatsapp_prefix(value: object) -> object:
    # Twilio writes WhatsApp senders as "whatsapp:+44...", so callers paste that form;
    # the prefix is a transport detail and the number is stored bare.
    if isinstance(value, str) and value.strip().lower().startswith(WHATSAPP_PREFIX):
        return value.strip()[len(WHATSAPP_PREFIX) :]
    return value


SenderNumber = Annotated[str, BeforeValidator(_drop_whatsapp_prefix), AfterValidator(check_phone)]
_SID = re.compile(r"MG[0-9a-fA-F]{32}")


def _check_sid(value: str) -> str:
    if not _SID.fullmatch(value):
        raise ValueError("a messaging service SID is MG followed by 32 hex characters")
    return value


MessagingServiceSid = Annotated[str, AfterValidator(_check_sid)]
EmailConfigurationId = Annotated[
    uuid.UUID | None,
    Field(
        description="Email identities only: the business's SMTP server (an email "
        "configuration) that sends as this identity; null: the business's default."
    ),
]


class SenderIdentityCreate(InputModel):
    channel: Channel
    from_email: EmailStr | None = None
    from_name: Name | None = None
    reply_to: EmailStr | None = None
    from_number: SenderNumber | None = None
    messaging_service_sid: MessagingServiceSid | None = None
    email_configuration_id: EmailConfigurationId = None
    is_default: bool | None = None


class SenderIdentityUpdate(InputModel):
    """The channel is fixed once created: a different channel is a different identity."""

    from_email: EmailStr | None = None
    from_name: Name | None = None
    reply_to: EmailStr | None = None
    from_number: SenderNumber | None = None
    messaging_service_sid: MessagingServiceSid | None = None
    email_configuration_id: EmailConfigurationId = None
    is_default: bool | None = None


class SenderIdentityRead(ReadModel):
    id: uuid.UUID
    channel: Channel
    from_email: str | None
    from_name: str | None
    reply_to: str | None
    from_number: str | None
    messaging_service_sid: str | None
    email_configuration_id: uuid.UUID | None
    is_default: bool
    verified_at: datetime | None
    created_at: datetime
    updated_at: datetime

    @computed_field  # type: ignore[prop-decorator]
    @property
    def verified(self) -> bool:
        return self.verified_at is not None


class VerificationSent(ReadModel):
    sent_to: str  # the identity's address or number, masked
    expires_at: datetime


class VerificationConfirm(InputModel):
    code: Annotated[str, StringConstraints(pattern=r"^[0-9]{6}$")]
