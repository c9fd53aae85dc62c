"""A client's reply as the API shows it, and the inbox page with its unread count."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import Field

from api.schemas import ListResponse, ReadModel


class ReplyRead(ReadModel):
    id: uuid.UUID
    client_id: uuid.UUID
    client_name: str
    channel: str = Field(description="`sms` or `whatsapp`.")
    from_number: str
    body: str = Field(description="The message's text (its first 1,600 characters).")
    delivery_id: uuid.UUID | None = Field(
        description="The latest message that reached the client on this channel before it."
    )
    reminder_id: uuid.UUID | None = Field(description="That message's reminder.")
    received_at: datetime
    read_at: datetime | None


class ReplyList(ListResponse[ReplyRead]):
    unread_count: int = Field(description="The business's unread replies, whatever the filters.")


class MarkedRead(ReadModel):
    marked: int = Field(description="How many replies were unread and are now read.")
