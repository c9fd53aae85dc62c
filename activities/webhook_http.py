"""One signed POST to a business's webhook endpoint, made safely: the URL's host is
resolved and vetted (core/network.py: public addresses only unless
ALLOW_PRIVATE_DESTINATIONS), and the request goes to the very address that was vetted
(TLS still checks the certificate against the URL's host name), so a name that resolves
elsewhere the second time (DNS rebinding) gains nothing. Redirects are not followed; of
the answer only its status and a short excerpt are kept."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit, urlunsplit

import httpx
from standardwebhooks.webhooks import Webhook

from core.network import DestinationPolicy, DestinationRefused

EXCERPT = 200


@dataclass(frozen=True)
class Answer:
    status_code: int | None  # None: no HTTP answer
    error: str | None  # None: accepted (2xx)


def signed_headers(secret: str, message_id: str, at: datetime, body: str) -> dict[str, str]:
    """Standard Webhooks' three headers for `body`."""
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": Webhook(secret).sign(message_id, at, body),
        "content-type": "application/json",
        "user-agent": "reminders-webhooks/1",
    }


def _pinned(url: str, ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
    parts = urlsplit(url)
    host = f"[{ip}]" if ip.version == 6 else str(ip)
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, ""))


async def post(
    policy: DestinationPolicy, url: str, headers: dict[str, str], body: str, timeout: float
) -> Answer:
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        addresses = await policy.vet(host, port, timeout)
    except DestinationRefused as refused:
        return Answer(None, f"refused: {refused}")
    except (OSError, TimeoutError) as exc:
        return Answer(None, f"could not resolve {host}: {exc.__class__.__name__}")
    netloc = parts.netloc.rpartition("@")[2]
    error = "no address to try"
    async with httpx.AsyncClient(timeout=timeout, follow_redirects=False, trust_env=False) as http:
        for ip in addresses:
            request = http.build_request(
                "POST",
                _pinned(url, ip),
                content=body.encode(),
                headers={**headers, "host": netloc},
                extensions={"sni_hostname": host},
            )
            try:
                response = await http.send(request, stream=True)
                try:
                    return await _answer(response)
                finally:
                    await response.aclose()
            except httpx.TransportError as exc:
                error = f"{exc.__class__.__name__}: {exc}"[:EXCERPT] or exc.__class__.__name__
    return Answer(None, error)


async def _answer(response: httpx.Response) -> Answer:
    if 200 <= response.status_code < 300:
        return Answer(response.status_code, None)
    head = b""
    async for chunk in response.aiter_raw():  # at most a few bytes of whatever it sends
        head += chunk
        if len(head) >= EXCERPT:
            break
    excerpt = " ".join(head[:EXCERPT].decode("utf-8", "replace").split())
    return Answer(
        response.status_code,
        f"HTTP {response.status_code}" + (f": {excerpt}" if excerpt else ""),
    )
