from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, Field


class ChannelUsage(BaseModel):
    messages: int = Field(
        description="Messages handed to the provider that month, verification codes included."
    )
    verification_codes: int = Field(
        0, description="Of those, one-time codes sent to prove a sender identity."
    )


class SmsUsage(ChannelUsage):
    segments: int = Field(
        description="SMS segments the provider reported for them (messages it did not "
        "report segments for add none)."
    )


class UsageByChannel(BaseModel):
    email: ChannelUsage
    sms: SmsUsage
    whatsapp: ChannelUsage


class UsageRead(BaseModel):
    month: str = Field(description="YYYY-MM, in the business's time zone.")
    timezone: str
    starts_at: datetime = Field(description="The month's first instant (local midnight).")
    ends_at: datetime = Field(description="The next month's first instant (exclusive).")
    by_channel: UsageByChannel
    total_messages: int


class BusinessUsageRead(UsageRead):
    business_id: uuid.UUID
    business_name: str
