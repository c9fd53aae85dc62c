"""Enumerations shared by the API, the worker and the database."""

from enum import StrEnum


class Role(StrEnum):
    owner = "owner"
    member = "member"


class Channel(StrEnum):
    email = "email"
    sms = "sms"
    whatsapp = "whatsapp"


class ReminderType(StrEnum):
    deadline = "deadline"
    payment = "payment"
    appointment = "appointment"
    document_request = "document_request"
    notification = "notification"
    custom = "custom"


class ReminderStatus(StrEnum):
    scheduled = "scheduled"
    paused = "paused"
    completed = "completed"
    cancelled = "cancelled"
    failed = "failed"


class DeliveryStatus(StrEnum):
    pending = "pending"
    sent = "sent"
    delivered = "delivered"
    failed = "failed"
    undelivered = "undelivered"
    skipped = "skipped"
