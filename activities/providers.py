"""Providers behind one small interface; the channel activities do not know which one runs."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Protocol


@dataclass
class OutgoingMessage:
    channel: str
    to: str
    subject: str | None
    body: str
    delivery_id: str


@dataclass
class ProviderResult:
    provider_message_id: str
    # "delivered" when the provider confirms at once (sandbox), else "sent" until a callback.
    status: str


class Provider(Protocol):
    name: str

    async def send(self, message: OutgoingMessage) -> ProviderResult: ...


class SandboxProvider:
    """Nothing leaves the machine: the rendered message is recorded as delivered."""

    name = "sandbox"

    async def send(self, message: OutgoingMessage) -> ProviderResult:
        return ProviderResult(provider_message_id=f"sandbox-{uuid.uuid4().hex}", status="delivered")
