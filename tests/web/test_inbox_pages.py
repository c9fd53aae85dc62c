"""The dashboard's Inbox over HTTP without a browser: clients' replies listed newest first
with their unread count in the navigation, "Mark read" (the session's CSRF token needed),
and another business's reply out of reach."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.builders.twilio import TWILIO_INBOUND_URL, add_phone_client, inbound_params, post_signed
from tests.conftest import Tenant, register_tenant
from tests.web.test_chase_pages import _csrf, _sign_in

UNREAD = re.compile(r'<span id="unread-replies"[^>]*>(\d+)</span>')


@pytest.fixture
async def browser_like(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    """A cookie-keeping client, like a browser tab, on the app."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        yield http


async def _reply_in(api: httpx.AsyncClient, tenant: Tenant, body: str) -> str:
    """A client of the tenant's texts `body`; the reply's id."""
    await add_phone_client(api, tenant)
    response = await post_signed(api, TWILIO_INBOUND_URL, inbound_params(body))
    assert response.status_code == 200, response.text
    listed = await api.get("/api/v1/replies", headers=tenant.headers)
    return str(listed.json()["items"][0]["id"])


def _unread(html: str) -> int:
    found = UNREAD.search(html)
    return int(found.group(1)) if found else 0


async def test_the_inbox_lists_a_reply_counts_it_unread_and_marks_it_read(
    client: httpx.AsyncClient, browser_like: httpx.AsyncClient
) -> None:
    owner = await register_tenant(client, "Acme")
    reply_id = await _reply_in(client, owner, "Sent the bank statements <b>today</b>")
    await _sign_in(browser_like, owner.email)

    page = await browser_like.get("/admin/replies")

    assert page.status_code == 200, page.text
    assert _unread(page.text) == 1
    row = page.text[page.text.index(f'data-reply-id="{reply_id}"') :]
    row = row[: row.index("</tr>")]
    assert 'class="unread"' in row
    assert "Alice Jones" in row
    assert "Sent the bank statements &lt;b&gt;today&lt;/b&gt;" in row  # escaped, never markup
    assert "Mark read" in row
    assert _unread((await browser_like.get("/admin")).text) == 1

    marked = await browser_like.post(
        f"/admin/replies/{reply_id}/read", data={"csrf_token": _csrf(page.text)}
    )

    assert marked.status_code == 303
    assert marked.headers["location"] == "/admin/replies"
    after = await browser_like.get("/admin/replies")
    assert _unread(after.text) == 0
    assert 'class="unread"' not in after.text
    listed = await client.get("/api/v1/replies", headers=owner.headers)
    assert listed.json()["unread_count"] == 0


async def test_mark_read_without_the_sessions_csrf_token_changes_nothing(
    client: httpx.AsyncClient, browser_like: httpx.AsyncClient
) -> None:
    owner = await register_tenant(client, "Acme")
    reply_id = await _reply_in(client, owner, "Thanks")
    await _sign_in(browser_like, owner.email)

    refused = await browser_like.post(f"/admin/replies/{reply_id}/read", data={})

    assert refused.status_code == 403
    listed = await client.get("/api/v1/replies", headers=owner.headers)
    assert listed.json()["unread_count"] == 1


async def test_another_business_neither_sees_nor_marks_a_reply(
    client: httpx.AsyncClient, browser_like: httpx.AsyncClient
) -> None:
    owner = await register_tenant(client, "Acme")
    rival = await register_tenant(client, "Rival")
    reply_id = await _reply_in(client, owner, "Private note for Acme")
    await _sign_in(browser_like, rival.email)

    page = await browser_like.get("/admin/replies")
    assert "Private note for Acme" not in page.text
    assert _unread(page.text) == 0
    token = _csrf(page.text)
    for target in (reply_id, "not-an-id"):
        refused = await browser_like.post(
            f"/admin/replies/{target}/read", data={"csrf_token": token}
        )
        assert refused.status_code == 404

    listed = await client.get("/api/v1/replies", headers=owner.headers)
    assert listed.json()["unread_count"] == 1
