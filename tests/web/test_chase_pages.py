"""Chasing clients until done in the dashboard, over HTTP without a browser: a reminder
page's Clients section, its "Mark done" form (recorded as the API records it, signalled
to the running workflow), the overview's outstanding counts, and the refusals."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.conftest import PASSWORD, Tenant, register_tenant
from tests.seed import Seeded, add_reminder
from tests.web.conftest import wait_until_sleeping

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
PERIOD = re.compile(r'name="period" value="([^"]+)"')


def _csrf(html: str) -> str:
    found = CSRF.search(html)
    assert found, "no csrf_token field on the page"
    return found.group(1)


def _row(html: str, client_id: str) -> str:
    """The Clients table's row of one client."""
    start = html.index(f'<tr data-client-id="{client_id}"')
    return html[start : html.index("</tr>", start)]


async def _sign_in(http: httpx.AsyncClient, email: str) -> None:
    page = await http.get("/admin/login")
    response = await http.post(
        "/admin/login", data={"email": email, "password": PASSWORD, "csrf_token": _csrf(page.text)}
    )
    assert response.status_code == 303, response.text


@pytest.fixture
async def browser_like(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    """A cookie-keeping client, like a browser tab, on the app."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        yield http


async def _add_client(http: httpx.AsyncClient, tenant: Tenant, name: str, tag: str) -> str:
    email = f"{name.split()[0].lower()}-{uuid.uuid4().hex[:6]}@client.example.com"
    response = await http.post(
        "/api/v1/clients",
        headers=tenant.headers,
        json={"name": name, "email": email, "tags": [tag]},
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def _stored_reminder(app: Any, tenant: Tenant, client_id: str) -> str:
    """A reminder row for one client of the tenant's, with no workflow (none is needed to
    be refused)."""
    seed = Seeded(app.state.sessionmaker, uuid.UUID(tenant.business_id), uuid.UUID(client_id))
    row = await add_reminder(
        seed,
        {"kind": "once", "at": "2099-01-01T09:00:00+00:00"},
        body="Hi {{ client.name }}",
        title="Year-end accounts",
        status="scheduled",
    )
    return str(row.id)


async def test_mark_done_on_the_reminder_page_records_it_as_staff_for_the_page_and_the_api(
    live_app: Any, temporal_dev: Any, browser_like: httpx.AsyncClient
) -> None:
    api = browser_like
    owner = await register_tenant(api, "Acme")
    ann = await _add_client(api, owner, "Ann Archer", "vat")
    bob = await _add_client(api, owner, "Bob Builder", "vat")
    due = (datetime.now(UTC) + timedelta(days=30)).replace(hour=9, minute=0, second=0)
    created = await api.post(
        "/api/v1/reminders",
        headers=owner.headers,
        json={
            "title": "Q3 VAT return",
            "type": "document_request",
            "tag": "vat",
            "channels": ["email"],
            "body": "Hi {{ client.name }}, please send your receipts.",
            "schedule": {"kind": "deadline", "due_at": due.isoformat(), "offsets": ["-P7D"]},
        },
    )
    assert created.status_code == 201, created.text
    reminder = created.json()
    await wait_until_sleeping(temporal_dev, reminder["workflow_id"])

    await _sign_in(browser_like, owner.email)
    overview = await browser_like.get("/admin")
    assert 'id="outstanding-reminders"' in overview.text
    assert 'data-count="outstanding">2<' in overview.text
    url = f"/admin/reminders/{reminder['id']}"
    page = await browser_like.get(url)
    assert page.status_code == 200
    assert 'data-state="outstanding"' in _row(page.text, ann)
    assert "Mark done" in _row(page.text, bob)
    period = PERIOD.search(_row(page.text, bob))
    assert period is not None

    marked = await browser_like.post(
        f"{url}/clients/{bob}/done",
        data={
            "csrf_token": _csrf(page.text),
            "next": url,
            "period": period.group(1),
            "note": "Receipts came by post",
        },
    )
    assert marked.status_code == 303, marked.text
    assert marked.headers["location"] == f"{url}?done=marked-done"

    after = await browser_like.get(marked.headers["location"])
    assert "Marked done" in after.text
    row = _row(after.text, bob)
    assert 'data-state="done"' in row
    assert "by staff (Acme Owner)" in row
    assert "Receipts came by post" in row
    assert "Mark done" not in row
    assert 'data-state="outstanding"' in _row(after.text, ann)
    done_only = await browser_like.get(url, params={"state": "done"})
    assert bob in done_only.text
    assert ann not in done_only.text
    overview = await browser_like.get("/admin")
    assert 'data-count="outstanding">1<' in overview.text

    states = await api.get(f"/api/v1/reminders/{reminder['id']}/clients", headers=owner.headers)
    assert states.status_code == 200, states.text
    by_client = {item["client_id"]: item for item in states.json()["items"]}
    assert by_client[bob]["state"] == "done"
    assert by_client[bob]["done_source"] == "staff"
    assert by_client[bob]["done_by_user_id"] == owner.user_id
    assert by_client[bob]["period"] == period.group(1)
    assert by_client[ann]["state"] == "outstanding"


async def test_another_business_cannot_see_or_mark_a_reminders_clients(
    app: Any, browser_like: httpx.AsyncClient, owner: Tenant, other_owner: Tenant
) -> None:
    theirs_client = await _add_client(browser_like, other_owner, "Rita Rival", "payroll")
    theirs = await _stored_reminder(app, other_owner, theirs_client)
    mine_client = await _add_client(browser_like, owner, "Bob Builder", "vat")
    mine = await _stored_reminder(app, owner, mine_client)
    await _sign_in(browser_like, owner.email)
    token = _csrf((await browser_like.get("/admin")).text)

    page = await browser_like.get(f"/admin/reminders/{theirs}", params={"state": "outstanding"})
    assert page.status_code == 404
    assert "Rita Rival" not in page.text
    for reminder_id, client_id in ((theirs, theirs_client), (mine, theirs_client)):
        refused = await browser_like.post(
            f"/admin/reminders/{reminder_id}/clients/{client_id}/done", data={"csrf_token": token}
        )
        assert refused.status_code == 404
        assert "Rita Rival" not in refused.text
    states = await browser_like.get(
        f"/api/v1/reminders/{theirs}/clients", headers=other_owner.headers
    )
    assert [item["state"] for item in states.json()["items"]] == ["outstanding"]


async def test_mark_done_without_the_sessions_csrf_token_changes_nothing(
    app: Any, browser_like: httpx.AsyncClient, owner: Tenant
) -> None:
    client_id = await _add_client(browser_like, owner, "Bob Builder", "vat")
    reminder_id = await _stored_reminder(app, owner, client_id)
    await _sign_in(browser_like, owner.email)
    for data in ({}, {"csrf_token": "0" * 64}):
        refused = await browser_like.post(
            f"/admin/reminders/{reminder_id}/clients/{client_id}/done", data=data
        )
        assert refused.status_code == 403
    page = await browser_like.get(f"/admin/reminders/{reminder_id}")
    assert 'data-state="outstanding"' in _row(page.text, client_id)


async def test_a_period_the_reminder_never_had_is_refused(
    app: Any, browser_like: httpx.AsyncClient, owner: Tenant
) -> None:
    client_id = await _add_client(browser_like, owner, "Bob Builder", "vat")
    reminder_id = await _stored_reminder(app, owner, client_id)
    await _sign_in(browser_like, owner.email)
    token = _csrf((await browser_like.get("/admin")).text)
    page = await browser_like.get(
        f"/admin/reminders/{reminder_id}", params={"period": "2001-01-01T09:00:00Z"}
    )
    assert page.status_code == 422
    assert "not a current or past period" in page.text
    marked = await browser_like.post(
        f"/admin/reminders/{reminder_id}/clients/{client_id}/done",
        data={"csrf_token": token, "period": "2001-01-01T09:00:00Z"},
    )
    assert marked.status_code == 422


async def _escalate(app: Any, tenant: Tenant, reminder_id: str, client_id: str) -> None:
    """The row the workflow writes when it emails staff about a client (for its once
    schedule, the period is its one occurrence)."""
    from core.progress_models import ClientProgress

    async with app.state.sessionmaker() as session:
        session.add(
            ClientProgress(
                business_id=uuid.UUID(tenant.business_id),
                reminder_id=uuid.UUID(reminder_id),
                client_id=uuid.UUID(client_id),
                period="2099-01-01T09:00:00Z",
                state="outstanding",
                escalated_at=datetime.now(UTC),
                escalated_after=3,
            )
        )
        await session.commit()


async def test_the_overview_counts_outstanding_and_escalated_clients_per_reminder(
    app: Any, browser_like: httpx.AsyncClient, owner: Tenant, other_owner: Tenant
) -> None:
    bob = await _add_client(browser_like, owner, "Bob Builder", "vat")
    reminder_id = await _stored_reminder(app, owner, bob)
    await _escalate(app, owner, reminder_id, bob)
    rita = await _add_client(browser_like, other_owner, "Rita Rival", "payroll")
    theirs = await _stored_reminder(app, other_owner, rita)
    await _sign_in(browser_like, owner.email)

    overview = await browser_like.get("/admin")
    start = overview.text.index(f'<tr data-reminder-id="{reminder_id}"')
    row = overview.text[start : overview.text.index("</tr>", start)]
    assert 'data-count="outstanding">1<' in row
    assert '<span class="status status-escalated">1</span>' in row
    assert f"/admin/reminders/{reminder_id}?period=2099-01-01T09" in row
    assert theirs not in overview.text
    page = await browser_like.get(f"/admin/reminders/{reminder_id}")
    assert "escalated</span>" in _row(page.text, bob)
    assert "after 3 sends" in _row(page.text, bob)


async def test_the_overview_reads_outstanding_counts_in_the_same_statements_for_any_number(
    app: Any, client: httpx.AsyncClient, owner: Tenant
) -> None:
    from sqlalchemy import event

    from api.web.chase import outstanding_reminders
    from core.models import Business

    async def statements() -> tuple[int, int]:
        seen: list[str] = []

        def count(*args: Any) -> None:
            seen.append(args[2])

        engine = app.state.engine.sync_engine
        event.listen(engine, "before_cursor_execute", count)
        try:
            async with app.state.sessionmaker() as session:
                business = await session.get(Business, uuid.UUID(owner.business_id))
                seen.clear()
                found = await outstanding_reminders(session, business)
        finally:
            event.remove(engine, "before_cursor_execute", count)
        return len(seen), sum(row.outstanding for row in found)

    first = await _add_client(client, owner, "Ann Archer", "vat")
    await _stored_reminder(app, owner, first)
    one = await statements()
    for n in range(4):
        added = await _add_client(client, owner, f"Client {n}", "vat")
        await _stored_reminder(app, owner, added)
    seed = Seeded(app.state.sessionmaker, uuid.UUID(owner.business_id), uuid.UUID(first))
    await add_reminder(
        seed,
        {"kind": "once", "at": "2099-01-01T09:00:00+00:00"},
        body="Hi",
        tag="vat",
        client_ids=[],
        status="scheduled",
    )
    many = await statements()
    assert one[1] == 1
    assert many[1] == 5 + 5  # five reminders of one client each, one of all five tagged
    assert many[0] == one[0] <= 6


async def test_when_temporal_is_unreachable_mark_done_says_so_and_records_nothing(
    app: Any, browser_like: httpx.AsyncClient, owner: Tenant
) -> None:
    """The session app's Temporal address has nothing listening: the workflow cannot be
    told, so the client stays outstanding (the API's record_done is all or nothing)."""
    client_id = await _add_client(browser_like, owner, "Bob Builder", "vat")
    reminder_id = await _stored_reminder(app, owner, client_id)
    await _sign_in(browser_like, owner.email)
    url = f"/admin/reminders/{reminder_id}"
    page = await browser_like.get(url)
    marked = await browser_like.post(
        f"{url}/clients/{client_id}/done", data={"csrf_token": _csrf(page.text), "next": url}
    )
    assert marked.status_code == 303
    assert marked.headers["location"] == f"{url}?problem=temporal"
    after = await browser_like.get(marked.headers["location"])
    assert "Temporal is unreachable" in after.text
    assert 'data-state="outstanding"' in _row(after.text, client_id)


async def test_staff_download_a_clients_document_from_the_page_and_no_one_else_can(
    app: Any, settings: Any, browser_like: httpx.AsyncClient, owner: Tenant, other_owner: Tenant
) -> None:
    from tests.api.done.links import PDF, link_path, pdf, reminder_for_a_client

    reminder_id, client_id = await reminder_for_a_client(
        browser_like, app, owner, status="completed"
    )
    sent = await browser_like.post(
        link_path(settings, reminder_id, client_id), data={"note": "here"}, files=[pdf()]
    )
    assert sent.status_code == 200, sent.text
    await _sign_in(browser_like, owner.email)
    page = await browser_like.get(f"/admin/reminders/{reminder_id}")
    (href,) = re.findall(r'href="(/admin/reminders/[^"]+/documents/[^"]+)"', page.text)

    download = await browser_like.get(href)
    assert download.status_code == 200
    assert download.content == PDF
    assert download.headers["content-disposition"].startswith("attachment;")
    assert download.headers["x-content-type-options"] == "nosniff"

    browser_like.cookies.clear()
    await _sign_in(browser_like, other_owner.email)
    refused = await browser_like.get(href)
    assert refused.status_code == 404
    assert refused.content != PDF
