"""SMS and WhatsApp through Twilio's Messages API, with the `twilio` SDK's async client.

The SDK's own `AsyncTwilioHttpClient` does not fit a worker: it opens its aiohttp session
in the constructor (outside any event loop at start-up), and drops its `timeout`, so a
request without one waits for ever. `BaseUrlAsyncHttpClient` opens its session lazily in
the running loop, always applies a total timeout, and can point the SDK at another base URL
(the local Twilio server in tests).
"""

from __future__ import annotations

import json
import logging
import time
from contextvars import ContextVar
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aiohttp
from twilio.base.exceptions import TwilioRestException, TwilioServiceException
from twilio.http import AsyncHttpClient
from twilio.http.response import Response
from twilio.rest import Client

from channels.providers import DeliveryFailure, OutgoingMessage, ProviderResult
from core.settings import Settings

TWILIO_API_BASE_URL = "https://api.twilio.com"
WHATSAPP_PREFIX = "whatsapp:"
CHANNELS = ("sms", "whatsapp")
# Twilio's error codes that say the recipient unsubscribed (replied STOP).
OPT_OUT_CODES = frozenset({21610})
# The SDK prefixes Twilio's own message with this.
_SDK_PREFIX = "Unable to create record: "
# Looking for a message a crashed attempt may have sent: Twilio's clock against ours, and
# how many of the address's newest messages are read.
CLOCK_SKEW = timedelta(minutes=2)
FIND_LIMIT = 50

_logger = logging.getLogger("twilio.async_http_client")

# The Retry-After header of the last response seen in this task. The SDK keeps no headers
# on its exceptions; a context variable stays correct with many sends in flight, since
# each send runs in its own task and the SDK awaits the HTTP client in that task.
_retry_after: ContextVar[str | None] = ContextVar("twilio_retry_after", default=None)


class BaseUrlAsyncHttpClient(AsyncHttpClient):
    """An aiohttp client for the Twilio SDK: lazy session, real timeout, optional base URL."""

    def __init__(self, base_url: str = TWILIO_API_BASE_URL, timeout: float = 15.0) -> None:
        super().__init__(_logger, True, timeout)
        base = base_url.rstrip("/")
        self._base = None if base == TWILIO_API_BASE_URL else urlsplit(base)
        self._session: aiohttp.ClientSession | None = None

    def rebase(self, url: str) -> str:
        """The SDK's absolute URL, moved onto the configured base URL (path kept)."""
        if self._base is None:
            return url
        parts = urlsplit(url)
        path = self._base.path.rstrip("/") + parts.path
        return urlunsplit((self._base.scheme, self._base.netloc, path, parts.query, ""))

    def _client_session(self) -> aiohttp.ClientSession:
        # Created here, in the running loop, never at construction time.
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession()
        return self._session

    async def request(
        self,
        method: str,
        url: str,
        params: dict[str, object] | None = None,
        data: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,
        allow_redirects: bool = False,
    ) -> Response:
        if timeout is not None and timeout <= 0:
            raise ValueError(timeout)
        headers = dict(headers or {})
        if auth is not None:
            headers["Authorization"] = aiohttp.encode_basic_auth(auth[0], auth[1])
        kwargs: dict[str, Any] = {
            "method": method.upper(),
            "url": self.rebase(url),
            "params": params,
            "data": data,
            "headers": headers,
            # aiohttp wants a ClientTimeout; a bare None would mean "no timeout at all".
            "timeout": aiohttp.ClientTimeout(
                total=timeout if timeout is not None else self.timeout
            ),
            "allow_redirects": allow_redirects,
        }
        self.log_request(kwargs)
        async with self._client_session().request(**kwargs) as response:
            text = await response.text()
            self.log_response(response.status, response)
            _retry_after.set(response.headers.get("Retry-After"))
            return Response(response.status, text, dict(response.headers))

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


class TwilioProvider:
    """Sends one SMS or WhatsApp message per call; see `channels.providers` for outcomes."""

    name = "twilio"

    def __init__(self, settings: Settings, channel: str) -> None:
        if channel not in CHANNELS:
            raise ValueError(f"channel must be one of {CHANNELS}, not {channel!r}")
        if not settings.TWILIO_ACCOUNT_SID or not settings.TWILIO_AUTH_TOKEN:
            raise ValueError("TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN are required for Twilio")
        self.settings = settings
        self.channel = channel
        self.http_client = BaseUrlAsyncHttpClient(
            settings.TWILIO_API_BASE_URL, settings.TWILIO_TIMEOUT_SECONDS
        )
        self.client = Client(
            settings.TWILIO_ACCOUNT_SID, settings.TWILIO_AUTH_TOKEN, http_client=self.http_client
        )

    async def send(self, message: OutgoingMessage) -> ProviderResult:
        params = self.message_params(message)
        _retry_after.set(None)
        await message.claim()  # from the request on, Twilio may have the message
        try:
            created = await self.client.messages.create_async(**params)
        except (TwilioRestException, TwilioServiceException) as exc:
            raise _classify(exc) from exc
        except TimeoutError as exc:  # aiohttp's timeouts are TimeoutError subclasses
            # Retried like an outage (DESIGN.md), though a request that timed out while
            # waiting for the answer may have reached Twilio: a rare duplicate is possible.
            raise DeliveryFailure(
                "timeout", "no answer from Twilio in time", retryable=True
            ) from exc
        except aiohttp.ClientConnectionError as exc:
            raise DeliveryFailure(
                "connection_error", f"{type(exc).__name__}: {exc}", retryable=True
            ) from exc
        if not created.sid:
            # Twilio said yes but named no message: it may have left, so not a failure.
            raise RuntimeError("Twilio accepted the message without a SID")
        return ProviderResult(
            provider_message_id=str(created.sid),
            status="sent",
            segments=_segments(created.num_segments),
        )

    async def find(self, message: OutgoingMessage, since: datetime) -> list[ProviderResult] | None:
        """Messages Twilio took since `since` (less a clock skew) that are this one: to the
        same address, from the same sender (number or messaging service), with the same
        text (a template's rendered text is Twilio's, so only the address and sender count
        then); oldest first. Twilio lists the newest first: the first page is plenty for
        one address in the minutes a retry looks back."""
        params = self.message_params(message)
        try:
            found = await self.client.messages.list_async(to=params["to"], limit=FIND_LIMIT)
        except (TwilioRestException, TwilioServiceException) as exc:
            raise _classify(exc) from exc
        except (TimeoutError, aiohttp.ClientConnectionError) as exc:
            raise DeliveryFailure(
                "lookup_unavailable", f"could not ask Twilio: {type(exc).__name__}", retryable=True
            ) from exc
        earliest = since - CLOCK_SKEW
        matches = [m for m in found if _is_this(m, params) and _created(m) >= earliest]
        return [
            ProviderResult(str(m.sid), "sent", _segments(m.num_segments))
            for m in sorted(matches, key=_created)
        ]

    async def close(self) -> None:
        await self.http_client.close()

    def message_params(self, message: OutgoingMessage) -> dict[str, str]:
        """The keyword arguments for `messages.create_async`."""
        whatsapp = self.channel == "whatsapp"
        params = {"to": _address(message.to, whatsapp)}
        params.update(self._sender(message, whatsapp))
        if whatsapp and message.content_sid:
            # An approved template: the only thing WhatsApp delivers outside the 24-hour
            # session. Twilio refuses a Body alongside it.
            params["content_sid"] = message.content_sid
            params["content_variables"] = json.dumps(message.content_variables)
        else:
            params["body"] = message.body
        if message.status_callback:
            params["status_callback"] = message.status_callback
        return params

    def _sender(self, message: OutgoingMessage, whatsapp: bool) -> dict[str, str]:
        # The business's own sender identity first, then the deployment's fallbacks.
        if message.messaging_service_sid:
            return {"messaging_service_sid": message.messaging_service_sid}
        if message.from_number:
            return {"from_": _address(message.from_number, whatsapp)}
        if whatsapp:
            # TWILIO_MESSAGING_SERVICE_SID is the SMS fallback; a WhatsApp sender must be
            # a registered WhatsApp number, so only TWILIO_WHATSAPP_FROM stands in here.
            if self.settings.TWILIO_WHATSAPP_FROM:
                return {"from_": _address(self.settings.TWILIO_WHATSAPP_FROM, True)}
        elif self.settings.TWILIO_MESSAGING_SERVICE_SID:
            return {"messaging_service_sid": self.settings.TWILIO_MESSAGING_SERVICE_SID}
        elif self.settings.TWILIO_FROM_NUMBER:
            return {"from_": _address(self.settings.TWILIO_FROM_NUMBER, False)}
        raise DeliveryFailure(
            "no_sender",
            f"no {self.channel} sender: set a sender identity or the TWILIO_* fallback",
            retryable=False,
        )


def _is_this(found: Any, params: dict[str, str]) -> bool:
    """Whether a message Twilio lists is the one `params` would send."""
    if "messaging_service_sid" in params:
        sender_matches = found.messaging_service_sid == params["messaging_service_sid"]
    else:
        sender_matches = found.from_ == params["from_"]
    same_text = "body" not in params or found.body == params["body"]
    return bool(found.to == params["to"] and sender_matches and same_text)


def _created(found: Any) -> datetime:
    created = found.date_created
    return created if isinstance(created, datetime) else datetime.min.replace(tzinfo=UTC)


def _segments(value: object) -> int | None:
    """Twilio's `num_segments` ("2"); "0" (a messaging service has not sent it yet) or
    anything unreadable is not reported."""
    try:
        segments = int(str(value))
    except ValueError:
        return None
    return segments if segments > 0 else None


def _address(number: str, whatsapp: bool) -> str:
    number = number.strip()
    if number.lower().startswith(WHATSAPP_PREFIX):
        number = number[len(WHATSAPP_PREFIX) :]
    return WHATSAPP_PREFIX + number if whatsapp else number


def _classify(exc: TwilioRestException | TwilioServiceException) -> DeliveryFailure:
    if isinstance(exc, TwilioServiceException):
        status, code, text = int(exc.status), exc.code, exc.detail or exc.title
    else:
        status, code, text = int(exc.status), exc.code, str(exc.msg)
        text = text.removeprefix(_SDK_PREFIX)
    twilio_code = _twilio_code(code, status)
    if status == 429:
        return DeliveryFailure(
            "http_429", text, retryable=True, retry_after=_parse_retry_after(_retry_after.get())
        )
    if status >= 500:
        return DeliveryFailure(f"http_{status}", text, retryable=True)
    if status in (401, 403) or twilio_code == 20003:
        # Our credentials or account, not the recipient: failing the message for good
        # would lose every reminder until someone noticed. Retrying keeps them pending
        # (and visible as failing attempts) while the configuration is fixed.
        return DeliveryFailure("twilio_auth", text, retryable=True)
    return DeliveryFailure(
        str(twilio_code) if twilio_code is not None else f"http_{status}",
        text,
        retryable=False,
        opt_out=twilio_code in OPT_OUT_CODES,
    )


def _twilio_code(code: object, status: int) -> int | None:
    # Without a JSON error body the SDK uses the HTTP status as the code.
    try:
        value = int(str(code))
    except ValueError:
        return None
    return None if value == status else value


def _parse_retry_after(value: str | None) -> float | None:
    """Retry-After is either delta-seconds or an HTTP date."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None
