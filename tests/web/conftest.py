"""The browser harness for the /admin dashboard: the app served over real HTTP by uvicorn
in the test loop, Debian's Chromium driven by Playwright (never a downloaded browser), and
a business seeded through the project's own API.

Without /usr/bin/chromium the browser tests are skipped, unless REQUIRE_BROWSER=1 (CI),
where they fail instead. With SCREENSHOT_DIR set, `snap` saves full-page PNGs there.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
import uvicorn

from tests.conftest import PASSWORD, add_superuser, eventually, register_tenant

if TYPE_CHECKING:
    from playwright.async_api import Browser, BrowserContext, Page, ViewportSize

CHROMIUM = "/usr/bin/chromium"
WIDE: ViewportSize = {"width": 1280, "height": 800}
NARROW: ViewportSize = {"width": 390, "height": 844}
SERVER_START_TIMEOUT = 10.0


def _browser_missing(reason: str) -> None:
    """Skip, or fail where a browser is required (REQUIRE_BROWSER=1, as in CI)."""
    if os.environ.get("REQUIRE_BROWSER") == "1":
        pytest.fail(f"{reason} (REQUIRE_BROWSER=1)", pytrace=False)
    pytest.skip(reason)


# -- the server -------------------------------------------------------------------------


class _Server(uvicorn.Server):
    """uvicorn in the test's own loop; Ctrl-C stays pytest's (no signal capture)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@contextlib.asynccontextmanager
async def served(app: Any) -> AsyncIterator[str]:
    """`app` over real HTTP on 127.0.0.1; yields the base URL. The socket is bound here
    and handed to uvicorn, so the port is ours."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        lifespan="off",
        timeout_graceful_shutdown=5,
    )
    server = _Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    deadline = asyncio.get_running_loop().time() + SERVER_START_TIMEOUT
    while not server.started:
        if task.done():
            task.result()  # raises what stopped it
            pytest.fail("uvicorn stopped before it started")
        if asyncio.get_running_loop().time() > deadline:
            server.should_exit = True
            await task
            pytest.fail(f"uvicorn did not start within {SERVER_START_TIMEOUT:g}s")
        await asyncio.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
        sock.close()


@pytest.fixture
async def live_server(live_app: Any) -> AsyncIterator[str]:
    """`live_app` (API + Temporal dev server + worker) over real HTTP on 127.0.0.1."""
    async with served(live_app) as url:
        yield url


# -- the browser ------------------------------------------------------------------------


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    """One headless Chromium (Debian's) for every browser test of the session."""
    if not Path(CHROMIUM).exists():
        _browser_missing(f"{CHROMIUM} is not installed (apt-get install -y chromium)")
    try:
        from playwright.async_api import async_playwright
    except ImportError:
        _browser_missing("playwright is not installed (pip install -e '.[dev]')")
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            yield chromium
        finally:
            await chromium.close()


ContextFactory = Callable[..., Awaitable["BrowserContext"]]


@pytest.fixture
async def new_context(browser: Browser, live_server: str) -> AsyncIterator[ContextFactory]:
    """Make more browser contexts (separate cookie jars) on the live server; closed after
    the test. `await new_context(viewport=NARROW)` is a phone-sized screen."""
    contexts: list[BrowserContext] = []

    async def make(viewport: ViewportSize | None = None, **options: Any) -> BrowserContext:
        context = await browser.new_context(
            base_url=live_server, viewport=viewport or WIDE, **options
        )
        context.set_default_timeout(10_000)
        contexts.append(context)
        return context

    yield make
    for context in contexts:
        await context.close()


@pytest.fixture
async def page(new_context: ContextFactory) -> Page:
    """A fresh context and page, 1280x800, on the live server (relative URLs work)."""
    context = await new_context()
    return await context.new_page()


async def narrow_page(new_context: ContextFactory) -> Page:
    """A page in a fresh 390x844 context (a phone held upright)."""
    context = await new_context(viewport=NARROW)
    return await context.new_page()


async def snap(page: Page, name: str) -> None:
    """Save a full-page PNG as SCREENSHOT_DIR/name when SCREENSHOT_DIR is set."""
    directory = os.environ.get("SCREENSHOT_DIR")
    if not directory:
        return
    Path(directory).mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(Path(directory) / name), full_page=True)


# -- data -------------------------------------------------------------------------------


@dataclass
class SeededBusiness:
    """A business registered through the API: its owner, one client and one reminder
    (once, in 30 days) that has already sent once (the manual "send now")."""

    name: str
    business_id: str
    email: str
    password: str
    headers: dict[str, str]
    client_id: str
    client_name: str
    reminder_id: str
    reminder_title: str
    workflow_id: str


def _ok(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, f"{response.request.url}: {response.text}"
    return dict(response.json())


async def deliveries_of(
    http: httpx.AsyncClient, business: SeededBusiness, reminder_id: str | None = None
) -> list[dict[str, Any]]:
    url = f"/api/v1/reminders/{reminder_id or business.reminder_id}/deliveries"
    return list((_ok(await http.get(url, headers=business.headers), 200))["items"])


async def wait_until_sleeping(temporal_dev: Any, workflow_id: str) -> None:
    """The workflow waits on its timer with its bookkeeping done (see tests/api/reminders: a
    signal sent before that can see its status written over for a moment)."""
    handle = temporal_dev.client.get_workflow_handle(workflow_id)

    async def sleeping() -> bool:
        events = (await handle.fetch_history()).events
        return events[-1].WhichOneof("attributes") == "timer_started_event_attributes"

    await eventually(sleeping, timeout=15, interval=0.1)


async def seed_business(
    base_url: str,
    temporal_dev: Any,
    name: str,
    title: str,
    client_name: str,
    timezone: str = "Europe/London",
) -> SeededBusiness:
    """Register `name`'s owner, add a client and a reminder, send it once and wait until
    the delivery is recorded and the workflow sleeps again."""
    async with httpx.AsyncClient(base_url=base_url, timeout=20) as http:
        owner = await register_tenant(http, name, timezone)
        headers = owner.headers
        client = _ok(
            await http.post(
                "/api/v1/clients",
                headers=headers,
                json={"name": client_name, "email": f"{uuid.uuid4().hex[:8]}@client.example.com"},
            ),
            201,
        )
        at = (datetime.now(UTC) + timedelta(days=30)).replace(microsecond=0)
        reminder = _ok(
            await http.post(
                "/api/v1/reminders",
                headers=headers,
                json={
                    "title": title,
                    "type": "deadline",
                    "client_ids": [client["id"]],
                    "channels": ["email"],
                    "subject": f"{title}: action needed",
                    "body": "Hi {{ client.name }}, your {{ reminder.title }} is due.",
                    "schedule": {"kind": "once", "at": at.isoformat()},
                },
            ),
            201,
        )
        seeded = SeededBusiness(
            name=f"{name} Accounting",
            business_id=owner.business_id,
            email=owner.email,
            password=owner.password,
            headers=headers,
            client_id=client["id"],
            client_name=client_name,
            reminder_id=reminder["id"],
            reminder_title=title,
            workflow_id=reminder["workflow_id"],
        )
        await wait_until_sleeping(temporal_dev, seeded.workflow_id)
        _ok(
            await http.post(f"/api/v1/reminders/{seeded.reminder_id}/trigger", headers=headers),
            202,
        )

        async def delivered() -> bool:
            return any(d["status"] == "delivered" for d in await deliveries_of(http, seeded))

        await eventually(delivered, timeout=20, interval=0.2)
        await wait_until_sleeping(temporal_dev, seeded.workflow_id)

        async def scheduled() -> bool:
            url = f"/api/v1/reminders/{seeded.reminder_id}"
            return (_ok(await http.get(url, headers=headers), 200))["status"] == "scheduled"

        await eventually(scheduled, timeout=15, interval=0.2)
    return seeded


@pytest.fixture
async def acme(live_server: str, temporal_dev: Any) -> SeededBusiness:
    return await seed_business(live_server, temporal_dev, "Acme", "VAT return", "Bob Builder")


@pytest.fixture
async def rival(live_server: str, temporal_dev: Any) -> SeededBusiness:
    return await seed_business(
        live_server, temporal_dev, "Rival", "Rival payroll filing", "Rita Rival"
    )


@dataclass
class Superuser:
    email: str
    password: str


@pytest.fixture
async def superuser(live_app: Any) -> Superuser:
    return Superuser(email=await add_superuser(live_app), password=PASSWORD)


@pytest.fixture
async def failed_delivery(live_app: Any, acme: SeededBusiness) -> dict[str, str]:
    """A permanently failed delivery for Acme's reminder (the sandbox never fails, so the
    row goes straight into the table), for the failed-deliveries page."""
    from core.models import Delivery

    row = {"error_code": "mailbox_full", "error_message": "552 Mailbox full"}
    async with live_app.state.sessionmaker() as session:
        session.add(
            Delivery(
                business_id=uuid.UUID(acme.business_id),
                reminder_id=uuid.UUID(acme.reminder_id),
                client_id=uuid.UUID(acme.client_id),
                channel="email",
                occurrence_key="manual-failed-seed",
                status="failed",
                attempts=3,
                to_address="bob@client.example.com",
                subject="VAT return: action needed",
                body="Hi Bob Builder, your VAT return is due.",
                **row,
            )
        )
        await session.commit()
    return row
