"""The dashboard's Webhooks page over HTTP without a browser: the business's endpoints
with their latest deliveries, "Send test event" for owners (the session's CSRF token
needed), and another business's endpoint out of reach."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.conftest import Tenant, add_member, register_tenant
from tests.web.test_chase_pages import _csrf, _sign_in

URL = "/api/v1/webhook-endpoints"


@pytest.fixture
async def browser_like(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        yield http


async def _endpoint(api: httpx.AsyncClient, tenant: Tenant, url: str) -> str:
    body = {"url": url, "events": ["delivery.sent"], "description": "Our <b>CRM</b>"}
    response = await api.post(URL, headers=tenant.headers, json=body)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def _log(api: httpx.AsyncClient, tenant: Tenant, endpoint_id: str) -> list[Any]:
    response = await api.get(f"{URL}/{endpoint_id}/deliveries", headers=tenant.headers)
    return list(response.json()["items"])


async def test_an_owner_sends_a_test_event_from_the_page(
    client: httpx.AsyncClient, browser_like: httpx.AsyncClient
) -> None:
    owner = await register_tenant(client, "Acme")
    endpoint_id = await _endpoint(client, owner, "https://hooks.acme.example/in")
    await _sign_in(browser_like, owner.email)

    page = await browser_like.get("/admin/webhooks")

    assert page.status_code == 200, page.text
    assert "https://hooks.acme.example/in" in page.text
    assert "Our &lt;b&gt;CRM&lt;/b&gt;" in page.text  # escaped, never markup
    assert "Nothing sent yet." in page.text
    refused = await browser_like.post(f"/admin/webhooks/{endpoint_id}/test", data={})
    assert refused.status_code == 403
    assert await _log(client, owner, endpoint_id) == []

    sent = await browser_like.post(
        f"/admin/webhooks/{endpoint_id}/test", data={"csrf_token": _csrf(page.text)}
    )

    assert sent.status_code == 303
    assert sent.headers["location"] == "/admin/webhooks"
    [delivery] = await _log(client, owner, endpoint_id)
    assert delivery["event_type"] == "webhook.test"
    after = await browser_like.get("/admin/webhooks")
    assert f'data-delivery-id="{delivery["id"]}"' in after.text


async def test_members_see_the_page_without_the_button_and_others_get_nothing(
    client: httpx.AsyncClient, browser_like: httpx.AsyncClient
) -> None:
    owner = await register_tenant(client, "Acme")
    member = await add_member(client, owner)
    endpoint_id = await _endpoint(client, owner, "https://hooks.acme.example/in")
    rival = await register_tenant(client, "Rival")
    await _sign_in(browser_like, member.email)
    page = await browser_like.get("/admin/webhooks")
    assert "https://hooks.acme.example/in" in page.text
    assert "Send test event" not in page.text
    member_try = await browser_like.post(
        f"/admin/webhooks/{endpoint_id}/test", data={"csrf_token": _csrf(page.text)}
    )
    assert member_try.status_code == 403

    await browser_like.post("/admin/logout", data={"csrf_token": _csrf(page.text)})
    browser_like.cookies.clear()
    await _sign_in(browser_like, rival.email)
    rival_page = await browser_like.get("/admin/webhooks")
    assert "hooks.acme.example" not in rival_page.text
    rival_try = await browser_like.post(
        f"/admin/webhooks/{endpoint_id}/test", data={"csrf_token": _csrf(rival_page.text)}
    )
    assert rival_try.status_code == 404
    assert await _log(client, owner, endpoint_id) == []
