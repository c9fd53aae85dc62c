"""A scriptable SMTP server on 127.0.0.1 (aiosmtpd), for tests that send real email.

    @pytest.fixture
    def smtp_server() -> Iterator[FakeSmtpServer]:
        with FakeSmtpServer(tls="starttls", username="mailer", password="s3cret") as server:
            yield server

    async def test_it_arrives(smtp_server: FakeSmtpServer) -> None:
        settings = Settings(_env_file=None, **smtp_server.smtp_settings())
        provider = SmtpProvider(settings, tls_context=smtp_server.client_tls_context)
        ...
        [received] = await smtp_server.wait_for(1)
        assert received.message["Subject"] == "Your documents"

Modes: `tls="none"` (plain), `"starttls"` (STARTTLS offered, and required before MAIL),
`"implicit"` (TLS from the first byte). The certificate is made in memory (once per test
run) for 127.0.0.1 and localhost, signed by a throwaway CA; `client_tls_context` trusts that CA and
nothing else, with hostname checking on. `username`/`password` turn on AUTH PLAIN and
LOGIN, and MAIL before a successful login gets "530 5.7.0 Authentication required".

Scripting (safe from any thread; the server runs on its own thread and event loop). Each
scripted action is claimed by the next transaction(s) when they send MAIL (after the login
check), in the order the actions were scripted:
- `fail_next(n, code, text, at="data")`: the next n transactions get that reply at
  MAIL, RCPT or (default) the end of DATA, after the content was received; nothing stored.
- `stall_next(n)`: the next n transactions never get a reply to their message content
  (the client times out; the outcome is unknown to it); nothing stored.
- `hold_reply_next(n, seconds)`: the next n messages are accepted (stored) at once, but
  the "250" reply waits `seconds` (a provider that took the message and answers late).
- `reject_recipient(address, code, text)`: RCPT TO that address gets the reply, until reset.
- `fail_quit(code, text)`: QUIT gets that reply instead of 221, until reset.
- `reset()`: forget every script, message and counter.

Observing: `messages` (accepted, in order), `attempts` (transactions started, i.e. MAIL
commands received, including refused ones), `auth_attempts`, and `await wait_for(n)`.

Also here: `silent_server()`, a TCP server that never answers (for timeouts), and
`unused_port()`, a port with nothing listening.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import email
import email.policy
import ipaddress
import socket
import ssl
import tempfile
import threading
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from functools import cache
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Self
from weakref import WeakKeyDictionary

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

TlsMode = Literal["none", "starttls", "implicit"]
Stage = Literal["mail", "rcpt", "data"]
HOST = "127.0.0.1"
# How long a stalled transaction waits before giving up (the client has long gone by then).
STALL_SECONDS = 300.0


@dataclass(frozen=True)
class ReceivedMessage:
    """One message the server accepted."""

    mail_from: str  # the envelope sender (MAIL FROM)
    rcpt_tos: tuple[str, ...]  # the envelope recipients (RCPT TO)
    message: EmailMessage  # parsed with email.policy.default
    raw: bytes
    tls: bool  # the connection was encrypted (STARTTLS or implicit TLS)
    login: str | None  # the username that logged in, if any

    @property
    def text(self) -> str:
        """The text/plain body, decoded, with the wire's CRLF line ends turned into \\n."""
        part = self.message.get_body(("plain",))
        assert part is not None, "the message has no text/plain part"
        return str(part.get_content()).replace("\r\n", "\n")

    @property
    def html(self) -> str | None:
        """The text/html body if any, decoded, line ends as in `text`."""
        part = self.message.get_body(("html",))
        return None if part is None else str(part.get_content()).replace("\r\n", "\n")


@dataclass(frozen=True)
class AuthAttempt:
    mechanism: str
    login: str
    success: bool


@dataclass
class _Script:
    reply: str | None  # None: stall
    at: Stage
    remaining: int
    hold: float = 0.0  # accept, then wait this long before the reply


@dataclass
class _State:
    lock: threading.Lock = field(default_factory=threading.Lock)
    messages: list[ReceivedMessage] = field(default_factory=list)
    auth_attempts: list[AuthAttempt] = field(default_factory=list)
    attempts: int = 0
    scripts: deque[_Script] = field(default_factory=deque)
    rejected: dict[str, str] = field(default_factory=dict)
    quit_reply: str | None = None


class _Handler:
    """aiosmtpd hooks (methods named handle_*), reading and writing the shared state."""

    def __init__(self, state: _State, username: str | None, password: str | None) -> None:
        self.state = state
        self.username = username
        self.password = password
        self.claimed: WeakKeyDictionary[Envelope, _Script] = WeakKeyDictionary()

    def authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        ok = (
            isinstance(data, LoginPassword)
            and data.login.decode() == self.username
            and data.password.decode() == self.password
        )
        login = data.login.decode() if isinstance(data, LoginPassword) else ""
        with self.state.lock:
            self.state.auth_attempts.append(AuthAttempt(mechanism, login, ok))
        return AuthResult(success=ok, handled=False, auth_data=data if ok else None)

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        with self.state.lock:
            self.state.attempts += 1
        if self.username and not session.authenticated:
            return "530 5.7.0 Authentication required"
        with self.state.lock:  # this transaction claims the next scripted action, if any
            if self.state.scripts:
                script = self.state.scripts[0]
                script.remaining -= 1
                if script.remaining <= 0:
                    self.state.scripts.popleft()
                self.claimed[envelope] = script
        if reply := self._scripted(envelope, "mail"):
            return reply
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if reply := self._scripted(envelope, "rcpt"):
            return reply
        with self.state.lock:
            rejected = self.state.rejected.get(address.lower())
        if rejected:
            return rejected
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(options)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        script = self.claimed.get(envelope)
        if script is not None and script.reply is None and not script.hold:
            # Ended early when the client hangs up (aiosmtpd cancels the session) or at stop.
            await asyncio.sleep(STALL_SECONDS)
            return "451 4.3.0 Stalled too long"
        if reply := self._scripted(envelope, "data"):
            return reply
        raw = envelope.original_content or b""
        transport = server.transport
        received = ReceivedMessage(
            mail_from=envelope.mail_from or "",
            rcpt_tos=tuple(envelope.rcpt_tos),
            message=email.message_from_bytes(raw, policy=email.policy.default),  # type: ignore[arg-type]
            raw=raw,
            tls=transport is not None and transport.get_extra_info("sslcontext") is not None,
            login=_login_of(session),
        )
        with self.state.lock:
            self.state.messages.append(received)
            number = len(self.state.messages)
        if script is not None and script.hold:
            await asyncio.sleep(script.hold)  # stored already: a late answer, not a lost one
        return f"250 2.0.0 OK queued as fake-{number}"

    async def handle_QUIT(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        with self.state.lock:
            return self.state.quit_reply or "221 Bye"

    def _scripted(self, envelope: Envelope, stage: Stage) -> str | None:
        script = self.claimed.get(envelope)
        if script is not None and script.at == stage:
            return script.reply
        return None


def _login_of(session: Session) -> str | None:
    data = session.auth_data  # what authenticate() returned on success
    return data.login.decode() if isinstance(data, LoginPassword) else None


class _LoopbackController(Controller):
    def _trigger_server(self) -> None:
        # Bound to port 0: learn the port the OS chose before aiosmtpd connects to it.
        assert isinstance(self.server, asyncio.Server)
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


class FakeSmtpServer:
    """An SMTP server on 127.0.0.1 and a free port; see the module docstring."""

    def __init__(
        self,
        *,
        tls: TlsMode = "none",
        username: str | None = None,
        password: str | None = None,
        port: int = 0,
    ) -> None:
        if (username is None) != (password is None):
            raise ValueError("give both username and password, or neither")
        self.tls = tls
        self.username = username
        self.password = password
        self.host = HOST
        self.port = port  # 0: a free one, chosen at start (and kept for a restart)
        self._state = _State()
        self._handler = _Handler(self._state, username, password)
        self._controller: _LoopbackController | None = None
        # client_tls_context: give it to the SMTP client; it trusts this server's certificate.
        self.client_tls_context: ssl.SSLContext | None = None
        self._server_tls_context: ssl.SSLContext | None = None
        if tls != "none":
            self._server_tls_context, self.client_tls_context = _tls_contexts()

    # -- lifecycle --------------------------------------------------------------------

    def start(self) -> Self:
        """Start listening (blocks until the server answers; a few milliseconds)."""
        assert self._controller is None, "already started"
        kwargs: dict[str, Any] = {
            "hostname": HOST,
            "port": self.port,
            "server_hostname": "localhost",
        }
        if self.tls == "starttls":
            kwargs.update(tls_context=self._server_tls_context, require_starttls=True)
        elif self.tls == "implicit":
            kwargs["ssl_context"] = self._server_tls_context
        if self.username is not None:
            kwargs["authenticator"] = self._handler.authenticate
            # aiosmtpd only knows about STARTTLS; under implicit TLS the link is encrypted.
            kwargs["auth_require_tls"] = self.tls == "starttls"
        controller = _LoopbackController(self._handler, **kwargs)
        controller.start()
        self._controller = controller
        self.port = controller.port
        return self

    def stop(self) -> None:
        """Stop listening; messages and scripts are kept, and `start()` again listens on
        the same port (an outage, then the server is back)."""
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    async def __aenter__(self) -> Self:
        return await asyncio.to_thread(self.start)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await asyncio.to_thread(self.stop)

    def smtp_settings(self) -> dict[str, Any]:
        """The SMTP_* settings that point the app at this server: `Settings(**these)`."""
        return {
            "SMTP_HOST": self.host,
            "SMTP_PORT": self.port,
            "SMTP_STARTTLS": self.tls == "starttls",
            "SMTP_IMPLICIT_TLS": self.tls == "implicit",
            "SMTP_USERNAME": self.username,
            "SMTP_PASSWORD": self.password,
        }

    # -- scripting --------------------------------------------------------------------

    def fail_next(
        self, n: int = 1, code: int = 451, text: str = "4.3.0 Try again later", at: Stage = "data"
    ) -> None:
        """The next n transactions get `code text` at MAIL, RCPT or the end of DATA."""
        self._script(_Script(reply=f"{code} {text}", at=at, remaining=n))

    def stall_next(self, n: int = 1) -> None:
        """The next n transactions never get a reply once their content is sent."""
        self._script(_Script(reply=None, at="data", remaining=n))

    def hold_reply_next(self, n: int, seconds: float) -> None:
        """The next n messages are stored at once, but their reply waits `seconds`."""
        self._script(_Script(reply=None, at="data", remaining=n, hold=seconds))

    def reject_recipient(
        self, address: str, code: int = 550, text: str = "5.1.1 User unknown"
    ) -> None:
        """RCPT TO `address` (any case) gets `code text` until reset()."""
        with self._state.lock:
            self._state.rejected[address.lower()] = f"{code} {text}"

    def fail_quit(self, code: int = 421, text: str = "4.3.2 Closing anyway") -> None:
        """QUIT gets `code text` instead of 221 until reset()."""
        with self._state.lock:
            self._state.quit_reply = f"{code} {text}"

    def reset(self) -> None:
        """Forget scripts, messages and counters (for a server shared between tests)."""
        with self._state.lock:
            self._state.messages.clear()
            self._state.auth_attempts.clear()
            self._state.attempts = 0
            self._state.scripts.clear()
            self._state.rejected.clear()
            self._state.quit_reply = None

    def _script(self, script: _Script) -> None:
        if script.remaining < 1:
            raise ValueError("n must be at least 1")
        with self._state.lock:
            self._state.scripts.append(script)

    # -- observing --------------------------------------------------------------------

    @property
    def messages(self) -> list[ReceivedMessage]:
        """The accepted messages so far, oldest first (a copy)."""
        with self._state.lock:
            return list(self._state.messages)

    @property
    def attempts(self) -> int:
        """Transactions started (MAIL commands received), refused ones included."""
        with self._state.lock:
            return self._state.attempts

    @property
    def auth_attempts(self) -> list[AuthAttempt]:
        with self._state.lock:
            return list(self._state.auth_attempts)

    async def wait_for(self, count: int = 1, timeout: float = 10.0) -> list[ReceivedMessage]:
        """Wait until at least `count` messages arrived; return them all (oldest first)."""
        deadline = asyncio.get_running_loop().time() + timeout
        while len(messages := self.messages) < count:
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"{len(messages)} of {count} messages arrived in {timeout}s")
            await asyncio.sleep(0.01)
        return messages


@asynccontextmanager
async def silent_server() -> AsyncIterator[int]:
    """A TCP server on 127.0.0.1 that accepts connections and never says a word (to test
    timeouts). Yields its port."""

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.read()  # until the client gives up
        finally:
            writer.close()

    server = await asyncio.start_server(hold, HOST, 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        await server.wait_closed()


def unused_port() -> int:
    """A port on 127.0.0.1 with nothing listening (the OS just handed it out and it was
    released at once)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


# -- certificates ---------------------------------------------------------------------


@cache
def _certificates() -> tuple[bytes, bytes, bytes]:
    """(CA certificate, server certificate, server key), PEM, made once per test run."""
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Fake SMTP test CA")])
    ca = (
        _certificate_builder(ca_name, ca_name, ca_key.public_key(), now)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(cert_sign=True), critical=True)
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    san = x509.SubjectAlternativeName(
        [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address(HOST))]
    )
    leaf = (
        _certificate_builder(name, ca_name, key.public_key(), now)
        .add_extension(san, critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(cert_sign=False), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    pem = serialization.Encoding.PEM
    return ca.public_bytes(pem), leaf.public_bytes(pem), key_pem


def _certificate_builder(
    subject: x509.Name, issuer: x509.Name, public_key: Any, now: dt.datetime
) -> x509.CertificateBuilder:
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
    )


def _key_usage(*, cert_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def _tls_contexts() -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """(server context, client context that trusts only the test CA)."""
    ca_pem, cert_pem, key_pem = _certificates()
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    # The ssl module loads a certificate chain from files only; they live for this call.
    with tempfile.TemporaryDirectory() as folder:
        cert_file, key_file = Path(folder) / "cert.pem", Path(folder) / "key.pem"
        cert_file.write_bytes(cert_pem)
        key_file.write_bytes(key_pem)
        server.load_cert_chain(cert_file, key_file)
    client = ssl.create_default_context(cadata=ca_pem.decode())
    return server, client
