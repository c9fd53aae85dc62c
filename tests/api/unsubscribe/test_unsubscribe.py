"""One-click email unsubscribe (RFC 8058): signed links, a GET that only asks, a POST that
opts out."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from core.settings import Settings
from core.unsubscribe import make_unsubscribe_token, read_unsubscribe_token, unsubscribe_url
from tests.builders.twilio import add_phone_client, opted_out, unsubscribe_link
from tests.conftest import PUBLIC_BASE_URL, TEST_SECRET, Tenant

CLIENTS = "/api/v1/clients"


async def add_client(http: httpx.AsyncClient, tenant: Tenant, **fields: Any) -> str:
    return await add_phone_client(http, tenant, email="alice@client.example.com", **fields)


async def opt_out_events(app: Any) -> int:
    """Opt-outs the client made (staff's own, when they add a client opted out, apart)."""
    async with app.state.engine.connect() as conn:
        query = text("SELECT payload FROM app_events WHERE action = 'client.opted_out'")
        payloads = [json.loads(p) if isinstance(p, str) else p for p in await conn.scalars(query)]
        return sum(payload.get("source") != "staff" for payload in payloads)


# -- tokens --------------------------------------------------------------------------------


def test_token_reads_back_as_the_client_and_channel() -> None:
    client_id = uuid.uuid4()
    token = make_unsubscribe_token(TEST_SECRET, client_id, "email")

    assert read_unsubscribe_token(TEST_SECRET, token) == (client_id, "email")
    assert len(token) < 60
    assert token.replace("-", "").replace("_", "").isalnum()


def test_tampered_or_foreign_tokens_are_refused() -> None:
    client_id = uuid.uuid4()
    token = make_unsubscribe_token(TEST_SECRET, client_id, "email")
    flipped = ("B" if token[0] == "A" else "A") + token[1:]
    forged_for_sms = make_unsubscribe_token("another-secret", client_id, "sms")

    assert read_unsubscribe_token("another-secret", token) is None
    assert read_unsubscribe_token(TEST_SECRET, flipped) is None
    assert read_unsubscribe_token(TEST_SECRET, forged_for_sms) is None
    for junk in ("", "x", "!!!!", "é" * 10, "A" * 5000, token + "=", token[:20]):
        assert read_unsubscribe_token(TEST_SECRET, junk) is None, junk


def test_unsubscribe_url_is_under_the_public_base_url(settings: Settings) -> None:
    client_id = uuid.uuid4()
    url = unsubscribe_url(settings, client_id, "email")

    assert url.startswith(f"{PUBLIC_BASE_URL}/api/v1/unsubscribe/")
    token = url.rsplit("/", 1)[1]
    assert read_unsubscribe_token(settings.SECRET_KEY, token) == (client_id, "email")


def test_unknown_channel_cannot_be_made_into_a_token() -> None:
    with pytest.raises(ValueError, match="fax"):
        make_unsubscribe_token(TEST_SECRET, uuid.uuid4(), "fax")


# -- the page and the one-click POST -------------------------------------------------------


async def test_get_asks_to_confirm_and_changes_nothing(
    client: httpx.AsyncClient, owner: Tenant, settings: Settings, app: Any
) -> None:
    customer = await add_client(client, owner)

    response = await client.get(unsubscribe_link(settings, customer))

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "Acme Accounting" in response.text
    assert '<form method="post">' in response.text
    # Self-contained: nothing is loaded from anywhere.
    assert "src=" not in response.text
    assert "<link" not in response.text
    assert "default-src 'none'" in response.headers["content-security-policy"]
    assert await opted_out(client, owner, customer) == []
    assert await opt_out_events(app) == 0


async def test_post_opts_the_client_out_of_email_once(
    client: httpx.AsyncClient, owner: Tenant, settings: Settings, app: Any
) -> None:
    customer = await add_client(client, owner, opted_out_channels=["sms"])
    path = unsubscribe_link(settings, customer)

    first = await client.post(path, data={"List-Unsubscribe": "One-Click"})
    again = await client.post(path)

    for response in (first, again):
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/html")
        assert "You will no longer receive email reminders from" in response.text
        assert "Acme Accounting" in response.text
    assert await opted_out(client, owner, customer) == ["sms", "email"]
    assert await opt_out_events(app) == 1
    # The page now says so instead of asking again.
    assert "no longer receive" in (await client.get(path)).text


async def test_business_name_is_escaped_in_the_page(
    client: httpx.AsyncClient, owner: Tenant, settings: Settings
) -> None:
    renamed = await client.patch(
        "/api/v1/business", headers=owner.headers, json={"name": "<script>x</script> & Co"}
    )
    assert renamed.status_code == 200, renamed.text
    customer = await add_client(client, owner)

    page = (await client.get(unsubscribe_link(settings, customer))).text

    assert "<script>" not in page
    assert "&lt;script&gt;x&lt;/script&gt; &amp; Co" in page


async def test_forged_token_is_404_and_changes_nothing(
    client: httpx.AsyncClient, owner: Tenant, settings: Settings, app: Any
) -> None:
    customer = await add_client(client, owner)
    forged = make_unsubscribe_token("not-our-secret", uuid.UUID(customer), "email")

    for method in ("GET", "POST"):
        response = await client.request(method, f"/api/v1/unsubscribe/{forged}")
        assert response.status_code == 404, method
        assert response.json()["detail"]
    assert await opted_out(client, owner, customer) == []
    assert await opt_out_events(app) == 0


async def test_link_of_a_deleted_client_is_404(
    client: httpx.AsyncClient, owner: Tenant, settings: Settings
) -> None:
    customer = await add_client(client, owner)
    path = unsubscribe_link(settings, customer)
    deleted = await client.delete(f"{CLIENTS}/{customer}", headers=owner.headers)
    assert deleted.status_code == 204

    assert (await client.get(path)).status_code == 404
    assert (await client.post(path)).status_code == 404
