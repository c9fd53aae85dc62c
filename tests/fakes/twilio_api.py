"""A local HTTP server that speaks Twilio's Messages API, for tests.

It answers the real `twilio` SDK the way api.twilio.com does (HTTP Basic auth, form
parameters, Twilio's error JSON, a 201 Message resource), on 127.0.0.1 only.

    async with FakeTwilio(TWILIO_SID, TWILIO_TOKEN) as fake:
        settings = Settings(..., TWILIO_API_BASE_URL=fake.url)
        ...  # send through TwilioProvider(settings, "sms")
        [message] = await fake.wait_for(1)
        assert message.to == "+447700900123"

Routes:
    POST /2010-04-01/Accounts/{AccountSid}/Messages.json          create (send) a message
    GET  /2010-04-01/Accounts/{AccountSid}/Messages.json          list (To, From filters)
    GET  /2010-04-01/Accounts/{AccountSid}/Messages/{Sid}.json    fetch one
    GET  /2010-04-01/Accounts/{AccountSid}.json                   fetch the account
    GET  /v1/Services/{Sid}                                       fetch a messaging service
                                                                  (messaging.twilio.com)

Like Twilio it holds many accounts, each with its own auth token: the one given to the
constructor, and any added with `add_account` (a business's own account). A caller sees
only its own account's resources.

Checks, in Twilio's order and with its codes: a scripted failure (`fail_next`); Basic auth
(401, 20003); the path's account is the caller's (404, 20404); To present (21604) and E.164
(21211, with or without "whatsapp:"); From or MessagingServiceSid (21603); From and To on
the same channel (21910); ContentSid shape (21655), ContentVariables a JSON object (21656)
and only with a ContentSid (21654); Body or ContentSid (21602), Body at most 1600
characters (21617); a scripted rejection of that recipient (`reject`); a stopped
recipient (`stopped`, 21610). Otherwise 201 with the message, status "queued" (or
"accepted" through a messaging service, as Twilio does).

Scripting and inspection:
    fake.url                               base URL for TWILIO_API_BASE_URL
    fake.add_account(sid, token)           another account (a business's own)
    fake.add_service(account_sid, "MG...") a messaging service of that account
    fake.account_status[sid] = "suspended" what fetching that account says
    fake.stopped.add("+447700900999")      that number answers 21610 (it replied STOP)
    fake.fail_next(2, status=503)          the next two requests fail (Twilio error JSON);
                                           status=429 with retry_after=... sends Retry-After
    fake.reject("+447700900123", 63016)    every message to that number answers 400 63016
    fake.delay_next(1, 5.0)                the next request waits 5 s before it is handled
    fake.release_delayed()                 ...or until now, for requests already waiting
    fake.requests                          every request, accepted or not (`RecordedRequest`)
    fake.messages                          every accepted message (`FakeMessage`)
    await fake.wait_for(1, timeout=5)      the first n accepted messages, once they exist
    fake.status_callback(message, "delivered")
                                           a `SignedCallback` (url, params, headers with a
                                           valid X-Twilio-Signature) to POST to the app
    fake.reset()                           forget messages, requests and scripts
    await fake.stop(); await fake.start()  an outage: the same port again, messages kept

A pytest fixture:

    @pytest.fixture
    async def twilio_api() -> AsyncIterator[FakeTwilio]:
        async with FakeTwilio(TWILIO_SID, TWILIO_TOKEN) as fake:
            yield fake
"""

from __future__ import annotations

import asyncio
import json
import math
import re
import socket
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from types import TracebackType
from typing import Any, ClassVar

from aiohttp import BasicAuth, web
from twilio.request_validator import RequestValidator

API_VERSION = "2010-04-01"
WHATSAPP_PREFIX = "whatsapp:"
# The sender Twilio picks from a messaging service's pool, as reported in callbacks.
SERVICE_SENDER = "+15005550006"

_E164 = re.compile(r"\+[1-9]\d{1,14}")
_CONTENT_SID = re.compile(r"HX[0-9a-fA-F]{32}")
_GSM7 = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡"
    "ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM7_EXTENDED = set("^{}\\[~]|€")

# Twilio's wording for the errors this server produces ({to} is the recipient).
MESSAGES: dict[int, str] = {
    20003: "Authenticate",
    20404: "The requested resource {path} was not found",
    20429: "Too Many Requests",
    20500: "Internal Server Error",
    20503: "Service Unavailable",
    21211: "The 'To' number {to} is not a valid phone number.",
    21408: "Permission to send an SMS has not been enabled for the region indicated by the 'To' number: {to}.",
    21602: "Message body is required.",
    21603: "A 'From' or 'MessagingServiceSid' parameter is required to send a message.",
    21604: "A 'To' phone number is required.",
    21610: "Attempt to send to unsubscribed recipient",
    21612: "The 'To' phone number: {to}, is not currently reachable using the 'From' phone number via SMS.",
    21614: "'To' number is not a valid mobile number",
    21617: "The concatenated message body exceeds the 1600 character limit.",
    21654: "A ContentSid must be specified if ContentVariables are provided in the request.",
    21655: "The ContentSid is Invalid.",
    21656: "The ContentVariables Parameter is invalid.",
    21910: "Invalid 'From' and 'To' pair. 'From' and 'To' should be of the same channel.",
    63014: "Channel message blocked by user action",
    63016: (
        "Failed to send freeform message because you are outside the allowed window. "
        "If you are using WhatsApp, please use a Message Template."
    ),
}
_DEFAULT_CODE = {429: 20429, 500: 20500, 503: 20503}


def sign(auth_token: str, url: str, params: dict[str, str]) -> str:
    """The X-Twilio-Signature Twilio sends with a webhook to `url` carrying `params`."""
    return str(RequestValidator(auth_token).compute_signature(url, params))


@dataclass
class SignedCallback:
    """A webhook request as Twilio would send it: POST `params` form-encoded to `url`."""

    url: str
    params: dict[str, str]
    headers: dict[str, str]


def signed_callback(auth_token: str, url: str, params: dict[str, str]) -> SignedCallback:
    headers = {
        "X-Twilio-Signature": sign(auth_token, url, params),
        "Content-Type": "application/x-www-form-urlencoded",
        "User-Agent": "TwilioProxy/1.1",
        "I-Twilio-Idempotency-Token": str(uuid.uuid4()),
    }
    return SignedCallback(url=url, params=dict(params), headers=headers)


@dataclass
class RecordedRequest:
    method: str
    path: str
    params: dict[str, str]  # form parameters (the last value of a repeated one)
    auth: tuple[str, str] | None  # the Basic auth (username, password) sent, if any
    headers: dict[str, str]
    received_at: datetime
    status: int = 0  # the HTTP status answered; 0 while still being handled


@dataclass
class FakeMessage:
    sid: str
    account_sid: str
    to: str  # as sent, e.g. "+447700900123" or "whatsapp:+447700900123"
    from_: str | None  # None when sent through a messaging service
    body: str | None
    messaging_service_sid: str | None
    content_sid: str | None
    content_variables: dict[str, Any] | None
    status_callback: str | None
    status: str
    resource: dict[str, Any]  # the JSON answered


@dataclass
class _Failure:
    status: int
    code: int
    message: str
    retry_after: float | None = None


@dataclass
class _Scripts:
    failures: list[_Failure] = field(default_factory=list)
    delays: list[float] = field(default_factory=list)
    rejections: dict[str, _Failure] = field(default_factory=dict)


class FakeTwilio:
    # The fakes listening now, by URL: a test that has only an app's settings finds the
    # Twilio they point at (`FakeTwilio.serving(settings.TWILIO_API_BASE_URL)`).
    _serving: ClassVar[dict[str, FakeTwilio]] = {}

    @classmethod
    def serving(cls, url: str) -> FakeTwilio:
        return cls._serving[url]

    def __init__(self, account_sid: str, auth_token: str, port: int = 0) -> None:
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.accounts: dict[str, str] = {account_sid: auth_token}  # sid -> auth token
        self.services: dict[str, str] = {}  # messaging service sid -> its account sid
        self.account_status: dict[str, str] = {}  # sid -> "suspended" | "closed" (else active)
        self.stopped: set[str] = set()
        self.requests: list[RecordedRequest] = []
        self.messages: list[FakeMessage] = []
        self._scripts = _Scripts()
        self._runner: web.AppRunner | None = None
        self._port = port  # 0: a free one, chosen at start (and kept for a restart)
        self._changed: asyncio.Condition | None = None
        self._release: asyncio.Event | None = None

    # -- lifecycle ---------------------------------------------------------------------

    @property
    def url(self) -> str:
        if self._runner is None:
            raise RuntimeError("FakeTwilio is not started")
        return f"http://127.0.0.1:{self._port}"

    async def start(self) -> None:
        self._changed = asyncio.Condition()
        self._release = asyncio.Event()
        app = web.Application()
        app.router.add_post("/2010-04-01/Accounts/{account}/Messages.json", self._create)
        app.router.add_get("/2010-04-01/Accounts/{account}/Messages.json", self._list)
        app.router.add_get("/2010-04-01/Accounts/{account}/Messages/{sid}.json", self._fetch)
        app.router.add_get("/2010-04-01/Accounts/{account}.json", self._fetch_account)
        app.router.add_get("/v1/Services/{sid}", self._fetch_service)
        app.router.add_route("*", "/{tail:.*}", self._not_found)
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", self._port))
        self._port = sock.getsockname()[1]
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        await web.SockSite(self._runner, sock).start()
        FakeTwilio._serving[self.url] = self

    async def stop(self) -> None:
        """Stop listening; messages are kept, and `start()` again listens on the same port."""
        if self._release is not None:
            self._release.set()  # wakes delayed requests so shutdown does not wait for them
        if self._runner is not None:
            FakeTwilio._serving.pop(self.url, None)
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeTwilio:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    # -- scripting ---------------------------------------------------------------------

    def add_account(self, account_sid: str, auth_token: str) -> None:
        self.accounts[account_sid] = auth_token

    def add_service(self, account_sid: str, service_sid: str) -> None:
        self.services[service_sid] = account_sid

    def fail_next(
        self,
        n: int = 1,
        status: int = 503,
        *,
        code: int | None = None,
        message: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        """The next `n` requests answer `status` with Twilio's error JSON, whatever they are."""
        code = code if code is not None else _DEFAULT_CODE.get(status, status)
        text = message or MESSAGES.get(code, f"HTTP {status}").format(to="", path="")
        self._scripts.failures.extend(_Failure(status, code, text, retry_after) for _ in range(n))

    def reject(self, to: str, code: int, *, status: int = 400, message: str | None = None) -> None:
        """Every valid message to `to` (bare E.164; any channel) answers this error."""
        text = message or MESSAGES.get(code, f"Error {code}").format(to=to, path="")
        self._scripts.rejections[_bare(to)] = _Failure(status, code, text)

    def delay_next(self, n: int, seconds: float) -> None:
        """The next `n` requests wait `seconds` before they are handled (or until
        `release_delayed()` or `stop()`)."""
        self._scripts.delays.extend([seconds] * n)

    def release_delayed(self) -> None:
        """Let every request that is waiting on `delay_next` go on now."""
        assert self._release is not None, "FakeTwilio is not started"
        self._release.set()
        self._release = asyncio.Event()

    def reset(self) -> None:
        self.stopped.clear()
        self.requests.clear()
        self.messages.clear()
        self._scripts = _Scripts()

    # -- inspection --------------------------------------------------------------------

    async def wait_for(self, count: int = 1, timeout: float = 5.0) -> list[FakeMessage]:
        """The first `count` accepted messages; AssertionError if they do not come in time."""
        assert self._changed is not None, "FakeTwilio is not started"
        try:
            async with asyncio.timeout(timeout), self._changed:
                await self._changed.wait_for(lambda: len(self.messages) >= count)
        except TimeoutError:
            answered = [(r.status, r.params.get("To")) for r in self.requests]
            raise AssertionError(
                f"{len(self.messages)} of {count} messages accepted within {timeout}s; "
                f"requests answered: {answered}"
            ) from None
        return self.messages[:count]

    def status_callback(
        self,
        message: FakeMessage,
        status: str = "delivered",
        *,
        error_code: int | None = None,
        url: str | None = None,
    ) -> SignedCallback:
        """The signed request Twilio sends to the message's StatusCallback for `status`
        (queued, sent, delivered, undelivered, failed, read). Records the new status."""
        target = url or message.status_callback
        if not target:
            raise ValueError(f"message {message.sid} has no StatusCallback and no url was given")
        params = {
            "AccountSid": message.account_sid,
            "ApiVersion": API_VERSION,
            "From": message.from_ or _channel(message.to) + SERVICE_SENDER,
            "To": message.to,
            "MessageSid": message.sid,
            "SmsSid": message.sid,
            "MessageStatus": status,
            "SmsStatus": status,
        }
        if message.messaging_service_sid:
            params["MessagingServiceSid"] = message.messaging_service_sid
        if error_code is not None:
            params["ErrorCode"] = str(error_code)
        message.status = status
        return signed_callback(self.auth_token, target, params)

    # -- handlers ----------------------------------------------------------------------

    async def _create(self, request: web.Request) -> web.StreamResponse:
        form = await request.post()
        record = RecordedRequest(
            method=request.method,
            path=request.path,
            params={key: str(value) for key, value in form.items()},
            auth=_basic_auth(request),
            headers=dict(request.headers),
            received_at=datetime.now(UTC),
        )
        self.requests.append(record)
        await self._notify()
        if self._scripts.delays:
            await self._wait(self._scripts.delays.pop(0))
        response = self._refusal(request, record) or self._validate(record.params)
        if response is None:
            message = self._accept(request.match_info["account"], record.params)
            response = web.json_response(message.resource, status=201)
        record.status = response.status
        await self._notify()
        return response

    async def _fetch(self, request: web.Request) -> web.StreamResponse:
        refusal = self._refusal(request, None)
        if refusal is not None:
            return refusal
        for message in self.messages:
            if message.sid == request.match_info["sid"]:
                return web.json_response(message.resource | {"status": message.status})
        return _error(404, 20404, MESSAGES[20404].format(path=request.path))

    async def _list(self, request: web.Request) -> web.StreamResponse:
        """The account's messages, newest first, filtered by To and From as Twilio does
        (one page: the fake never holds more than a test sends)."""
        refusal = self._refusal(request, None)
        if refusal is not None:
            return refusal
        account, query = request.match_info["account"], request.query
        found = [
            message.resource | {"status": message.status}
            for message in reversed(self.messages)
            if message.account_sid == account
            and query.get("To", message.to) == message.to
            and query.get("From", message.from_) == message.from_
        ]
        uri = f"/{API_VERSION}/Accounts/{account}/Messages.json"
        page_size = int(query.get("PageSize", "50"))
        return web.json_response(
            {
                "messages": found[:page_size],
                "page": 0,
                "page_size": page_size,
                "start": 0,
                "end": max(len(found[:page_size]) - 1, 0),
                "uri": uri,
                "first_page_uri": uri,
                "next_page_uri": None,
                "previous_page_uri": None,
            }
        )

    async def _fetch_account(self, request: web.Request) -> web.StreamResponse:
        refusal = self._refusal(request, None)
        if refusal is not None:
            return refusal
        sid = request.match_info["account"]
        return web.json_response(
            {
                "sid": sid,
                "friendly_name": f"Account {sid[-6:]}",
                "status": self.account_status.get(sid, "active"),
                "type": "Full",
                "uri": f"/{API_VERSION}/Accounts/{sid}.json",
            }
        )

    async def _fetch_service(self, request: web.Request) -> web.StreamResponse:
        auth = _basic_auth(request)
        if auth is None or self.accounts.get(auth[0]) != auth[1]:
            return _error(401, 20003, MESSAGES[20003])
        sid = request.match_info["sid"]
        if self.services.get(sid) != auth[0]:
            return _error(404, 20404, MESSAGES[20404].format(path=request.path))
        return web.json_response({"sid": sid, "account_sid": auth[0], "friendly_name": sid})

    async def _not_found(self, request: web.Request) -> web.StreamResponse:
        return _error(404, 20404, MESSAGES[20404].format(path=request.path))

    def _refusal(self, request: web.Request, record: RecordedRequest | None) -> web.Response | None:
        """A scripted failure, bad credentials or another account's path."""
        if record is not None and self._scripts.failures:
            failure = self._scripts.failures.pop(0)
            headers = {}
            if failure.retry_after is not None:
                headers["Retry-After"] = f"{failure.retry_after:g}"
            return _error(failure.status, failure.code, failure.message, headers)
        auth = record.auth if record is not None else _basic_auth(request)
        if auth is None or self.accounts.get(auth[0]) != auth[1]:
            return _error(
                401, 20003, MESSAGES[20003], {"WWW-Authenticate": 'Basic realm="Twilio API"'}
            )
        if request.match_info["account"] != auth[0]:
            return _error(404, 20404, MESSAGES[20404].format(path=request.path))
        return None

    def _validate(self, params: dict[str, str]) -> web.Response | None:
        to = params.get("To", "")
        sender = params.get("From", "")
        body = params.get("Body")
        content_sid = params.get("ContentSid")
        variables = params.get("ContentVariables")
        if not to:
            return _twilio_error(21604, to)
        if not _E164.fullmatch(_bare(to)):
            return _twilio_error(21211, to)
        if not sender and not params.get("MessagingServiceSid"):
            return _twilio_error(21603, to)
        if sender and _channel(sender) != _channel(to):
            return _twilio_error(21910, to)
        if content_sid is not None and not _CONTENT_SID.fullmatch(content_sid):
            return _twilio_error(21655, to)
        if variables is not None:
            if content_sid is None:
                return _twilio_error(21654, to)
            if not _json_object(variables):
                return _twilio_error(21656, to)
        if not body and not content_sid and "MediaUrl" not in params:
            return _twilio_error(21602, to)
        if body and len(body) > 1600:
            return _twilio_error(21617, to)
        rejection = self._scripts.rejections.get(_bare(to))
        if rejection is not None:
            return _error(rejection.status, rejection.code, rejection.message)
        if _bare(to) in self.stopped:
            return _twilio_error(21610, to)
        return None

    def _accept(self, account_sid: str, params: dict[str, str]) -> FakeMessage:
        sid = "SM" + uuid.uuid4().hex
        now = format_datetime(datetime.now(UTC))
        service = params.get("MessagingServiceSid")
        sender = params.get("From") or None
        body = params.get("Body")
        variables = params.get("ContentVariables")
        uri = f"/{API_VERSION}/Accounts/{account_sid}/Messages/{sid}"
        # Through a messaging service Twilio has not picked a sender yet.
        status = "accepted" if service and not sender else "queued"
        resource: dict[str, Any] = {
            "account_sid": account_sid,
            "api_version": API_VERSION,
            "body": body or "",
            "date_created": now,
            "date_sent": None,
            "date_updated": now,
            "direction": "outbound-api",
            "error_code": None,
            "error_message": None,
            "from": sender,
            "messaging_service_sid": service,
            "num_media": "0",
            "num_segments": "0" if status == "accepted" else str(_segments(body or "")),
            "price": None,
            "price_unit": "USD",
            "sid": sid,
            "status": status,
            "subresource_uris": {
                "media": f"{uri}/Media.json",
                "feedback": f"{uri}/Feedback.json",
            },
            "to": params["To"],
            "uri": f"{uri}.json",
        }
        message = FakeMessage(
            sid=sid,
            account_sid=account_sid,
            to=params["To"],
            from_=sender,
            body=body,
            messaging_service_sid=service,
            content_sid=params.get("ContentSid"),
            content_variables=json.loads(variables) if variables else None,
            status_callback=params.get("StatusCallback"),
            status=status,
            resource=resource,
        )
        self.messages.append(message)
        return message

    async def _notify(self) -> None:
        assert self._changed is not None
        async with self._changed:
            self._changed.notify_all()

    async def _wait(self, seconds: float) -> None:
        assert self._release is not None
        try:
            await asyncio.wait_for(self._release.wait(), seconds)
        except TimeoutError:
            pass


def _error(
    status: int, code: int, message: str, headers: dict[str, str] | None = None
) -> web.Response:
    payload = {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }
    return web.json_response(payload, status=status, headers=headers)


def _twilio_error(code: int, to: str) -> web.Response:
    return _error(400, code, MESSAGES[code].format(to=to, path=""))


def _basic_auth(request: web.Request) -> tuple[str, str] | None:
    header = request.headers.get("Authorization")
    if not header:
        return None
    try:
        auth = BasicAuth.decode(header)
    except ValueError:
        return None
    return auth.login, auth.password


def _bare(address: str) -> str:
    return address[len(WHATSAPP_PREFIX) :] if address.startswith(WHATSAPP_PREFIX) else address


def _channel(address: str) -> str:
    return WHATSAPP_PREFIX if address.startswith(WHATSAPP_PREFIX) else ""


def _json_object(text: str) -> bool:
    try:
        value = json.loads(text)
    except ValueError:
        return False
    return isinstance(value, dict) and all(v not in (None, "") for v in value.values())


def _segments(body: str) -> int:
    """SMS segments: GSM-7 fits 160 characters (153 when split), else UCS-2 fits 70 (67)."""
    if set(body) <= _GSM7 | _GSM7_EXTENDED:
        length = len(body) + sum(char in _GSM7_EXTENDED for char in body)
        single, part = 160, 153
    else:
        length = len(body.encode("utf-16-le")) // 2
        single, part = 70, 67
    return 1 if length <= single else math.ceil(length / part)
