"""Pure ASGI middleware: request ids, a cap on request body size, and transport security
(allowed hosts, https redirect, security headers)."""

from __future__ import annotations

import json
import re
import uuid

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core.context import request_id_var

_REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class RequestIdMiddleware:
    """Takes a sane `X-Request-ID` from the caller or makes one, and echoes it back."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        request_id = incoming if _REQUEST_ID_RE.match(incoming) else uuid.uuid4().hex
        token = request_id_var.set(request_id)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode()))
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            request_id_var.reset(token)


class BodySizeLimitMiddleware:
    """Answers 413 before reading more than `max_bytes` of a request body, or more than
    `limits[prefix]` for a path under one of its prefixes (the longest that matches)."""

    def __init__(self, app: ASGIApp, max_bytes: int, limits: dict[str, int] | None = None) -> None:
        self.app = app
        self.max_bytes = max_bytes
        # Longest prefix first, so a more specific one wins.
        self.limits = sorted((limits or {}).items(), key=lambda item: -len(item[0]))

    def limit_for(self, path: str) -> int:
        for prefix, limit in self.limits:
            if path.startswith(prefix):
                return limit
        return self.max_bytes

    async def _reject(self, send: Send, max_bytes: int) -> None:
        body = json.dumps({"detail": f"Request body larger than {max_bytes} bytes"}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        max_bytes = self.limit_for(scope.get("path", ""))
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None:
            try:
                too_big = int(length) > max_bytes
            except ValueError:
                too_big = False
            if too_big:
                await self._reject(send, max_bytes)
                return
        received = 0
        rejected = False

        async def limited_receive() -> Message:
            # Past the limit: answer 413 ourselves and tell the app the client left, so
            # whatever it does next (FastAPI answers 400 to a broken body) is dropped.
            nonlocal received, rejected
            if rejected:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > max_bytes:
                    rejected = True
                    await self._reject(send, max_bytes)
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            if not rejected:
                await send(message)

        await self.app(scope, limited_receive, guarded_send)


# Probes and scrapers reach a process directly (by its IP, over plain http inside the
# cluster), so the host check and the https redirect leave these paths alone.
_INFRASTRUCTURE_PATHS = ("/healthz", "/readyz", "/metrics")
# Swagger UI and ReDoc load their scripts from a CDN and run inline code: they get no
# Content-Security-Policy; the dashboard sets its own strict one; JSON gets the strictest.
_OWN_POLICY_PATHS = ("/docs", "/redoc", "/admin")
_API_POLICY = b"default-src 'none'; frame-ancestors 'none'"


def host_allowed(host: str, allowed: list[str]) -> bool:
    """`host` (without port) is one of `allowed`, or under a `*.domain` entry of it."""
    if not allowed:
        return True
    for pattern in allowed:
        if pattern.startswith("*.") and (host.endswith(pattern[1:]) or host == pattern[2:]):
            return True
        if host == pattern:
            return True
    return False


class SecurityMiddleware:
    """Refuses unknown Host headers (400), sends plain http to https (308) when asked, and
    adds the security headers every response carries (HSTS only over https)."""

    def __init__(
        self, app: ASGIApp, allowed_hosts: list[str], https_only: bool, hsts_seconds: int
    ) -> None:
        self.app = app
        self.allowed_hosts = allowed_hosts
        self.https_only = https_only
        self.hsts = f"max-age={hsts_seconds}; includeSubDomains".encode()

    async def _answer(
        self, send: Send, status: int, body: dict[str, str], extra: list[tuple[bytes, bytes]]
    ) -> None:
        payload = json.dumps(body).encode()
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(payload)).encode()),
            *extra,
        ]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": payload})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        headers = dict(scope["headers"])
        host_header = headers.get(b"host", b"").decode("latin-1")
        host = host_header.rsplit(":", 1)[0].strip("[]").lower() if host_header else ""
        infrastructure = path in _INFRASTRUCTURE_PATHS
        if not infrastructure and not host_allowed(host, self.allowed_hosts):
            await self._answer(send, 400, {"detail": "Invalid Host header"}, [])
            return
        secure = scope.get("scheme") == "https"
        if self.https_only and not secure and not infrastructure:
            query = scope.get("query_string", b"").decode("latin-1")
            target = f"https://{host_header}{path}" + (f"?{query}" if query else "")
            await self._answer(
                send,
                308,
                {"detail": "Use https"},
                [(b"location", target.encode("latin-1", "replace"))],
            )
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                out = list(message.get("headers", []))
                present = {name.lower() for name, _ in out}
                wanted = [
                    (b"x-content-type-options", b"nosniff"),
                    (b"x-frame-options", b"DENY"),
                    (b"referrer-policy", b"same-origin"),
                ]
                if not path.startswith(_OWN_POLICY_PATHS):
                    wanted.append((b"content-security-policy", _API_POLICY))
                if secure and self.https_only:
                    wanted.append((b"strict-transport-security", self.hsts))
                out += [(name, value) for name, value in wanted if name not in present]
                message["headers"] = out
            await send(message)

        await self.app(scope, receive, send_with_headers)
