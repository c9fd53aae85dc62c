"""Notifications are delivery records; an item is exactly a reminder's `DeliveryRead`."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from pydantic import Field

from api.deps import TimeWindow
from api.reminders.schemas import DeliveryRead
from api.schemas import ReadModel
from core.enums import Channel, DeliveryStatus

__all__ = ["DeliveryRead", "NotificationFilters", "ResendAccepted"]


@dataclass(frozen=True)
class NotificationFilters:
    """What `GET /notifications` narrows by; None means not filtered."""

    status: DeliveryStatus | None = None
    channel: Channel | None = None
    client_id: uuid.UUID | None = None
    reminder_id: uuid.UUID | None = None
    window: TimeWindow = field(default_factory=lambda: TimeWindow(since=None, until=None))


class ResendAccepted(ReadModel):
    accepted: bool = True
    occurrence_key: str = Field(description="The new delivery's key: `resend-<request id>`.")
    resend_of: uuid.UUID = Field(description="The delivery sent again.")
