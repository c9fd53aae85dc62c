"""A business's webhook receiver on loopback: a real HTTP server that records every POST
and answers as scripted (a status per request, or hanging), and checks each one with the
`standardwebhooks` package as a receiver following our docs would.

    async with WebhookReceiver() as receiver:
        receiver.answers = [500, 500, 500]    # then 200 for the rest
        ...
        [event] = receiver.accepted          # verified, answered 2xx
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from standardwebhooks.webhooks import Webhook, WebhookVerificationError


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    status: int

    @property
    def event(self) -> dict[str, Any]:
        return dict(json.loads(self.body))


@dataclass
class WebhookReceiver:
    path: str = "/hooks"
    answers: list[int] = field(default_factory=list)  # consumed one per request; then 200
    hang_first: int = 0  # the first this many requests never get an answer
    secret: str | None = None  # set it to verify what arrives
    received: list[Received] = field(default_factory=list)
    port: int = 0
    _runner: web.AppRunner | None = None
    _release: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.path}"

    @property
    def accepted(self) -> list[dict[str, Any]]:
        """Events answered 2xx whose signature checks out with `secret`."""
        assert self.secret is not None, "set the endpoint's secret first"
        hook = Webhook(self.secret)
        events = []
        for item in self.received:
            if 200 <= item.status < 300:
                events.append(hook.verify(item.body, item.headers))
        return events

    def verifies(self, item: Received) -> bool:
        assert self.secret is not None
        try:
            Webhook(self.secret).verify(item.body, item.headers)
        except WebhookVerificationError:
            return False
        return True

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        if self.hang_first > 0:
            self.hang_first -= 1
            self.received.append(Received(dict(request.headers), body, 0))
            await self._release.wait()  # the sender gives up first
            return web.Response(status=504)
        status = self.answers.pop(0) if self.answers else 200
        self.received.append(Received(dict(request.headers), body, status))
        return web.Response(status=status, text="ok" if status < 300 else "nope")

    async def __aenter__(self) -> WebhookReceiver:
        app = web.Application()
        app.router.add_post(self.path, self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._release.set()
        assert self._runner is not None
        await self._runner.cleanup()
