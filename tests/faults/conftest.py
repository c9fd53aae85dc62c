"""Fault-injection harness: the real pieces as separate processes on 127.0.0.1.

`stack` starts, per test, in its own temporary directory:

- the Temporal dev server (`temporal server start-dev`, state in a SQLite file, the search
  attributes registered with `--search-attribute` as `reminders dev` does),
- `reminders worker` and `reminders api` processes (as many as a test asks for), on an app
  database migrated first with `reminders migrate` (a SQLite file, or a fresh PostgreSQL
  database for the database-outage test),
- an SMTP server (aiosmtpd, `tests.fakes.smtp.FakeSmtpServer`, on its own thread) and a
  Twilio-compatible HTTP server (`tests.fakes.twilio_api.FakeTwilio`), both in this process
  and both real servers on loopback ports that stay the same across a stop and a start.

Each process writes to `<tmp>/logs/<name>.log`; a failing test prints them all. Teardown
kills every process group it started, even on failure, and fails if any process carrying
this run's marker is still alive afterwards.

The helpers talk to the API over HTTP the way a client would, and `settle` /
`check_deliveries` state what a client must see: every accepted reminder completed, each
occurrence sent once per client and channel, and nothing left pending.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from core.temporal import SEARCH_ATTRIBUTES
from tests.conftest import PASSWORD, TEST_SECRET, TWILIO_SID, TWILIO_TOKEN
from tests.fakes.smtp import FakeSmtpServer
from tests.fakes.twilio_api import FakeTwilio

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
HOST = "127.0.0.1"
NAMESPACE = "default"
# Every child's environment carries this, set to the run's directory: teardown finds
# leftovers by it (a grandchild included).
MARKER = "REMINDERS_FAULTS_RUN"
# Settings the stack must not inherit from the developer's shell or CI.
SCRUBBED: tuple[str, ...] = ("DATABASE_URL", "REDIS_URL", "ADMIN_", "TEMPORAL_", "ENV")
SCRUBBED += ("PUBLIC_BASE_URL", "SMTP_", "TWILIO_", "EMAIL_", "SMS_", "WHATSAPP_", "LOG_")
START_TIMEOUT = 90.0
FROM_NUMBER = "+15005550006"
FINAL = {"sent", "delivered", "failed", "undelivered", "skipped"}
TOKEN_RE = re.compile(r"ref (F[0-9a-f]+-\d+)")


def note(text: str) -> None:
    """Evidence for the report: shown with `-s`, and with a failing test's output."""
    sys.stdout.write(text + "\n")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def marked_pids(run_dir: Path) -> list[int]:
    """Live processes whose environment carries this run's marker."""
    marker = f"{MARKER}={run_dir}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if marker not in (entry / "environ").read_bytes().split(b"\0"):
                continue
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            found.append(int(entry.name))
    return found


class Proc:
    """One child process in its own process group, its output in a log file."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], run_dir: Path) -> None:
        self.name = name
        self.log_path = run_dir / "logs" / f"{name}.log"
        self.log_path.parent.mkdir(exist_ok=True)
        with self.log_path.open("ab") as log:
            log.write(f"--- {datetime.now(UTC):%H:%M:%S.%f} start {' '.join(argv)}\n".encode())
            log.flush()
            self.popen = subprocess.Popen(
                argv,
                env=env,
                cwd=run_dir,  # away from the repository's .env
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    @property
    def pid(self) -> int:
        return self.popen.pid

    @property
    def alive(self) -> bool:
        return self.popen.poll() is None

    def signal(self, sig: signal.Signals) -> None:
        try:
            os.killpg(self.popen.pid, sig)
        except ProcessLookupError:
            pass

    async def wait_exit(self, timeout: float = 20.0) -> int:
        deadline = time.monotonic() + timeout
        while self.popen.poll() is None:
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.name} (pid {self.pid}) still running after {timeout}s")
            await asyncio.sleep(0.05)
        return int(self.popen.returncode)

    async def kill(self) -> None:
        """SIGKILL the whole group: no shutdown code runs (a crash, an OOM kill)."""
        self.signal(signal.SIGKILL)
        await self.wait_exit()

    def output(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""


@dataclass
class Tenant:
    email: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@dataclass
class ClientInfo:
    id: str
    email: str
    phone: str


@dataclass
class Expected:
    """A reminder the API accepted and what its one occurrence must produce."""

    id: str
    token: str
    clients: list[ClientInfo]
    channels: list[str]
    at: datetime | None = None  # when it is due


class Api:
    """One API process, spoken to over HTTP."""

    def __init__(self, proc: Proc, port: int) -> None:
        self.proc = proc
        self.port = port
        self.url = f"http://{HOST}:{port}"
        self.http = httpx.AsyncClient(base_url=self.url, timeout=30)

    async def close(self) -> None:
        await self.http.aclose()


@dataclass
class Stack:
    run_dir: Path
    database_url: str
    smtp: FakeSmtpServer = field(init=False)
    twilio: FakeTwilio = field(init=False)
    temporal_port: int = field(default_factory=free_port)
    procs: list[Proc] = field(default_factory=list)
    apis: list[Api] = field(default_factory=list)
    workers: list[Proc] = field(default_factory=list)
    temporal: Proc | None = None
    counts: Counter[str] = field(default_factory=Counter)

    def __post_init__(self) -> None:
        self.smtp = FakeSmtpServer(port=free_port())
        self.twilio = FakeTwilio(TWILIO_SID, TWILIO_TOKEN, port=free_port())

    # -- the pieces ----------------------------------------------------------------------

    @property
    def twilio_url(self) -> str:
        return f"http://{HOST}:{self.twilio._port}"

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(SCRUBBED)}
        env.update(
            {
                MARKER: str(self.run_dir),
                "PYTHONPATH": str(ROOT),
                "PYTHONUNBUFFERED": "1",
                "ENV": "development",
                "SECRET_KEY": TEST_SECRET,
                "LOG_FORMAT": "text",
                "DATABASE_URL": self.database_url,
                "TEMPORAL_ADDRESS": f"{HOST}:{self.temporal_port}",
                "TEMPORAL_NAMESPACE": NAMESPACE,
                "EMAIL_BACKEND": "smtp",
                "SMTP_HOST": HOST,
                "SMTP_PORT": str(self.smtp.port),
                "SMTP_STARTTLS": "false",
                "SMTP_IMPLICIT_TLS": "false",
                "SMTP_TIMEOUT_SECONDS": "10",
                "DEFAULT_FROM_EMAIL": "reminders@firm.example.com",
                "SMS_BACKEND": "twilio",
                "WHATSAPP_BACKEND": "twilio",
                "TWILIO_WHATSAPP_FROM": FROM_NUMBER,
                "TWILIO_ACCOUNT_SID": TWILIO_SID,
                "TWILIO_AUTH_TOKEN": TWILIO_TOKEN,
                "TWILIO_API_BASE_URL": self.twilio_url,
                "TWILIO_FROM_NUMBER": FROM_NUMBER,
                "TWILIO_TIMEOUT_SECONDS": "10",
                "PUBLIC_BASE_URL": f"http://{HOST}:8000",
                "API_RATE_LIMIT": "100000/minute",
                "REGISTRATIONS_PER_IP": "100000/hour",
                # Webhook receivers listen on loopback here.
                "ALLOW_PRIVATE_DESTINATIONS": "true",
            }
        )
        env.update(extra)
        return env

    def spawn(self, name: str, argv: list[str], env: dict[str, str]) -> Proc:
        proc = Proc(name, argv, env, self.run_dir)
        self.procs.append(proc)
        return proc

    def _name(self, kind: str) -> str:
        self.counts[kind] += 1
        return f"{kind}-{self.counts[kind]}"

    async def start(self, workers: int = 1, apis: int = 1) -> None:
        await asyncio.to_thread(self.smtp.start)
        await self.twilio.start()
        await self.migrate()
        await self.start_temporal()
        for _ in range(workers):
            await self.start_worker()
        for _ in range(apis):
            await self.start_api()

    async def migrate(self) -> None:
        done = await asyncio.to_thread(
            subprocess.run,
            [str(BIN / "reminders"), "migrate"],
            env=self.env(),
            cwd=self.run_dir,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, f"migrate failed:\n{done.stdout}\n{done.stderr}"

    def temporal_env(self) -> dict[str, str]:
        return {k: v for k, v in self.env().items() if not k.startswith("TEMPORAL_")}

    async def start_temporal(self) -> Proc:
        argv = [str(BIN / "temporal"), "server", "start-dev"]
        argv += ["--db-filename", str(self.run_dir / "temporal.db")]
        argv += ["--ip", HOST, "--port", str(self.temporal_port), "--headless"]
        argv += ["--namespace", NAMESPACE, "--log-level", "warn"]
        for name, kind in SEARCH_ATTRIBUTES.items():
            argv += ["--search-attribute", f"{name}={kind}"]
        self.temporal = self.spawn(self._name("temporal"), argv, self.temporal_env())
        await self.wait_until("Temporal", self.temporal_answers, self.temporal)
        return self.temporal

    async def stop_temporal(self) -> None:
        """SIGTERM, as an operator or an orchestrator stops it; killed if it lingers."""
        assert self.temporal is not None
        self.temporal.signal(signal.SIGTERM)
        try:
            await self.temporal.wait_exit(20)
        except AssertionError:
            await self.temporal.kill()

    async def temporal_answers(self) -> bool:
        argv = [str(BIN / "temporal"), "operator", "namespace", "describe"]
        argv += ["--namespace", NAMESPACE, "--address", f"{HOST}:{self.temporal_port}"]
        proc = await asyncio.create_subprocess_exec(
            *argv,
            env=self.temporal_env(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            return await asyncio.wait_for(proc.wait(), 5) == 0
        except TimeoutError:
            proc.kill()
            await proc.wait()
            return False

    async def start_worker(self) -> Proc:
        proc = self.spawn(self._name("worker"), [str(BIN / "reminders"), "worker"], self.env())
        self.workers.append(proc)

        async def polling() -> bool:
            return "polling task queue" in proc.output()

        await self.wait_until("the worker", polling, proc)
        return proc

    async def start_api(self) -> Api:
        port = free_port()
        argv = [str(BIN / "reminders"), "api", "--host", HOST, "--port", str(port)]
        proc = self.spawn(self._name("api"), argv, self.env())
        api = Api(proc, port)
        self.apis.append(api)

        async def healthy() -> bool:
            try:
                return (await api.http.get("/healthz", timeout=1)).status_code == 200
            except httpx.HTTPError:
                return False

        await self.wait_until("the API", healthy, proc)
        return api

    async def wait_until(self, what: str, ready: Any, proc: Proc) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while not await ready():
            if not proc.alive:
                raise AssertionError(f"{proc.name} exited ({proc.popen.returncode}) starting")
            if time.monotonic() > deadline:
                raise AssertionError(f"{what} not ready within {START_TIMEOUT}s")
            await asyncio.sleep(0.2)

    # -- teardown ------------------------------------------------------------------------

    def logs(self) -> str:
        parts = []
        for path in sorted((self.run_dir / "logs").glob("*.log")):
            text = path.read_text(errors="replace")
            if len(text) > 20_000:
                text = "[...]\n" + text[-20_000:]
            parts.append(f"==================== {path.name}\n{text}")
        return "\n".join(parts)

    async def close(self) -> list[int]:
        """Kill everything this run started; the pids still alive afterwards."""
        for api in self.apis:
            await api.close()
        for proc in self.procs:
            proc.signal(signal.SIGKILL)
        for proc in self.procs:
            try:
                await proc.wait_exit(10)
            except AssertionError:
                pass
        await self.twilio.stop()
        await asyncio.to_thread(self.smtp.stop)
        deadline = time.monotonic() + 5
        while (left := marked_pids(self.run_dir)) and time.monotonic() < deadline:
            for pid in left:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
            await asyncio.sleep(0.1)
        return left


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    if report.when == "call":
        item.stash[_failed] = report.failed
    return report


_failed = pytest.StashKey[bool]()


@pytest.fixture
async def stack(tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[Stack]:
    """The stack on a SQLite app database; the test calls `await stack.start(...)`."""
    run = Stack(tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'app.db'}")
    async for value in running_stack(run, request):
        yield value


async def running_stack(run: Stack, request: pytest.FixtureRequest) -> AsyncIterator[Stack]:
    """Yield the stack; on the way out stop it, show its logs if the test failed, and fail
    if any of its processes is left."""
    try:
        yield run
    finally:
        left = await run.close()
        if request.node.stash.get(_failed, True) or left:
            note(f"\nlogs of {run.run_dir}:\n{run.logs()}")
        assert not left, f"processes left running: {left}"


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database (FAULTS_POSTGRES_URL or TEST_DATABASE_URL names the
    server), dropped afterwards; skipped when neither is set."""
    import psycopg
    from sqlalchemy.engine import make_url

    base = os.environ.get("FAULTS_POSTGRES_URL") or os.environ.get("TEST_DATABASE_URL")
    if not base:
        pytest.skip("set FAULTS_POSTGRES_URL (or TEST_DATABASE_URL) to a PostgreSQL server")
    url = make_url(base)
    name = f"reminders_faults_{uuid.uuid4().hex[:10]}"
    admin = admin_dsn(base)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield url.set(database=name).render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def admin_dsn(url: str) -> str:
    from sqlalchemy.engine import make_url

    admin = make_url(url).set(drivername="postgresql", database="postgres")
    return admin.render_as_string(hide_password=False)


@pytest.fixture
async def pg_stack(
    tmp_path: Path, postgres_url: str, request: pytest.FixtureRequest
) -> AsyncIterator[Stack]:
    """The stack on its own PostgreSQL database."""
    run = Stack(tmp_path, postgres_url)
    async for value in running_stack(run, request):
        yield value


# -- what a client does ------------------------------------------------------------------


async def register(api: Api) -> Tenant:
    email = f"owner-{uuid.uuid4().hex[:8]}@faults.example.com"
    response = await api.http.post(
        "/api/v1/auth/register",
        json={
            "email": email,
            "password": PASSWORD,
            "full_name": "Fault Owner",
            "business_name": "Fault Accounting",
            "timezone": "Europe/London",
        },
    )
    assert response.status_code == 201, response.text
    return Tenant(email=email, token=response.json()["access_token"])


async def add_clients(api: Api, tenant: Tenant, count: int) -> list[ClientInfo]:
    clients = []
    base = uuid.uuid4().int % 1000
    for n in range(count):
        email = f"client{n}-{uuid.uuid4().hex[:6]}@client.example.com"
        phone = f"+447911123{(base + n) % 1000:03d}"
        response = await api.http.post(
            "/api/v1/clients",
            headers=tenant.headers,
            json={"name": f"Client {n}", "email": email, "phone": phone},
        )
        assert response.status_code == 201, response.text
        clients.append(ClientInfo(response.json()["id"], email, phone))
    return clients


def new_batch() -> str:
    return "F" + uuid.uuid4().hex[:8]


def reminder_body(token: str, clients: list[ClientInfo], channels: list[str], at: datetime) -> Any:
    return {
        "title": f"Fault {token}",
        "type": "custom",
        "client_ids": [c.id for c in clients],
        "channels": channels,
        "subject": f"Reminder ref {token}",
        "body": f"Hello {{{{ client.name }}}}, ref {token}.",
        "schedule": {"kind": "once", "at": at.isoformat()},
    }


async def create_reminder(
    api: Api,
    tenant: Tenant,
    token: str,
    clients: list[ClientInfo],
    channels: list[str],
    at: datetime,
    key: str | None = None,
) -> Expected:
    headers = dict(tenant.headers)
    if key:
        headers["Idempotency-Key"] = key
    response = await api.http.post(
        "/api/v1/reminders", headers=headers, json=reminder_body(token, clients, channels, at)
    )
    assert response.status_code == 201, response.text
    return Expected(response.json()["id"], token, clients, channels, at)


async def create_many(
    api: Api,
    tenant: Tenant,
    clients: list[ClientInfo],
    count: int,
    due_in: float,
    channels: tuple[str, ...] = ("email", "sms"),
    spread: float = 0.0,
) -> list[Expected]:
    """`count` once-reminders due `due_in` s from now (spread evenly over `spread` s)."""
    batch = new_batch()
    start = datetime.now(UTC) + timedelta(seconds=due_in)
    step = spread / max(count - 1, 1)
    return [
        await create_reminder(
            api,
            tenant,
            f"{batch}-{i}",
            clients,
            list(channels),
            start + timedelta(seconds=i * step),
        )
        for i in range(count)
    ]


def seconds_until(when: datetime) -> float:
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


# -- what a client must see --------------------------------------------------------------


def received(stack: Stack) -> Counter[tuple[str, str, str]]:
    """(token, recipient, channel) -> how many messages the fake providers accepted."""
    counts: Counter[tuple[str, str, str]] = Counter()
    for message in stack.smtp.messages:
        match = TOKEN_RE.search(str(message.message["Subject"]))
        for rcpt in message.rcpt_tos:
            counts[(match.group(1) if match else "?", rcpt.lower(), "email")] += 1
    for sms in stack.twilio.messages:
        match = TOKEN_RE.search(sms.body or "")
        channel = "whatsapp" if sms.to.startswith("whatsapp:") else "sms"
        to = sms.to.removeprefix("whatsapp:")
        counts[(match.group(1) if match else "?", to, channel)] += 1
    return counts


def expected_keys(reminders: list[Expected]) -> set[tuple[str, str, str]]:
    keys = set()
    for reminder in reminders:
        for client in reminder.clients:
            for channel in reminder.channels:
                address = client.email if channel == "email" else client.phone
                keys.add((reminder.token, address, channel))
    return keys


async def wait_received(stack: Stack, reminders: list[Expected], timeout: float) -> None:
    """Until every expected message reached the fake providers (or fail with the gap)."""
    want = expected_keys(reminders)
    deadline = time.monotonic() + timeout
    while not want <= set(received(stack)):
        if time.monotonic() > deadline:
            missing = sorted(want - set(received(stack)))
            raise AssertionError(f"{len(missing)} of {len(want)} not received: {missing[:10]}")
        await asyncio.sleep(0.25)


async def reminder_view(api: Api, tenant: Tenant, reminder_id: str) -> dict[str, Any]:
    response = await api.http.get(f"/api/v1/reminders/{reminder_id}", headers=tenant.headers)
    assert response.status_code == 200, response.text
    return dict(response.json())


async def deliveries_of(api: Api, tenant: Tenant, reminder_id: str) -> list[dict[str, Any]]:
    response = await api.http.get(
        f"/api/v1/reminders/{reminder_id}/deliveries",
        headers=tenant.headers,
        params={"limit": 200},
    )
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


async def settle(
    api: Api, tenant: Tenant, reminders: list[Expected], timeout: float
) -> dict[str, list[dict[str, Any]]]:
    """Wait until every reminder is completed and each of its deliveries is final; answer
    the deliveries per reminder. Fails naming what is stuck."""
    deadline = time.monotonic() + timeout
    pending = {r.id: r for r in reminders}
    done: dict[str, list[dict[str, Any]]] = {}
    while True:
        for reminder_id, reminder in list(pending.items()):
            view = await reminder_view(api, tenant, reminder_id)
            rows = await deliveries_of(api, tenant, reminder_id)
            want = len(reminder.clients) * len(reminder.channels)
            final = len(rows) >= want and all(row["status"] in FINAL for row in rows)
            if view["status"] == "completed" and final:
                done[reminder_id] = rows
                del pending[reminder_id]
        if not pending:
            return done
        if time.monotonic() > deadline:
            stuck = []
            for reminder_id in list(pending)[:5]:
                view = await reminder_view(api, tenant, reminder_id)
                rows = await deliveries_of(api, tenant, reminder_id)
                statuses = [(r["channel"], r["status"], r["error_code"]) for r in rows]
                stuck.append((reminder_id, view["status"], statuses))
            raise AssertionError(f"{len(pending)} reminders not settled in {timeout}s: {stuck}")
        await asyncio.sleep(0.5)


@dataclass
class Outcome:
    sent: int = 0
    outcome_unknown: list[tuple[str, str, str, int]] = field(default_factory=list)


def check_deliveries(
    stack: Stack,
    reminders: list[Expected],
    rows: dict[str, list[dict[str, Any]]],
    *,
    allow_outcome_unknown: bool = False,
) -> Outcome:
    """Each (reminder, occurrence, client, channel): one row and at most one message.

    Strict (the default): every row `sent`/`delivered` and exactly one message each.
    With `allow_outcome_unknown` (a worker killed while a provider held the message), a
    row may instead be `failed` with `outcome_unknown` (visible, with its reason), and
    then 0 or 1 message arrived - never 2.
    """
    counts = received(stack)
    duplicates = {key: n for key, n in counts.items() if n > 1}
    assert not duplicates, f"sent more than once: {duplicates}"
    unexpected = set(counts) - expected_keys(reminders)
    assert not unexpected, f"messages nobody asked for: {sorted(unexpected)[:10]}"
    outcome = Outcome()
    for reminder in reminders:
        mine = rows[reminder.id]
        keys = Counter((r["client_id"], r["channel"], r["occurrence_key"]) for r in mine)
        assert all(n == 1 for n in keys.values()), f"duplicate rows: {keys}"
        assert len(mine) == len(reminder.clients) * len(reminder.channels), mine
        by_client = {c.id: c for c in reminder.clients}
        for row in mine:
            client = by_client[row["client_id"]]
            address = client.email if row["channel"] == "email" else client.phone
            arrived = counts[(reminder.token, address, row["channel"])]
            if row["status"] in ("sent", "delivered"):
                assert arrived == 1, f"{row['status']} but {arrived} arrived: {row}"
                assert row["error_code"] is None, row
                outcome.sent += 1
            elif allow_outcome_unknown and row["error_code"] == "outcome_unknown":
                assert row["status"] == "failed", row
                outcome.outcome_unknown.append((reminder.id, address, row["channel"], arrived))
            else:
                raise AssertionError(f"delivery not sent: {row}")
    return outcome


@pytest.fixture(params=["sqlite", "postgresql"])
async def drill_stack(tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[Stack]:
    """The stack on a SQLite app database, or on PostgreSQL (skipped without one)."""
    if request.param == "postgresql":
        url = request.getfixturevalue("postgres_url")
    else:
        url = f"sqlite+aiosqlite:///{tmp_path / 'app.db'}"
    async for value in running_stack(Stack(tmp_path, url), request):
        yield value
