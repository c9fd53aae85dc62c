"""Owners make, list and revoke their business's API keys; the key is shown once and kept
only as its SHA-256; each change is in the audit log."""

from __future__ import annotations

import hashlib
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from tests.builders.api_keys import KEYS_PATH, bearer, make_key
from tests.conftest import Tenant


async def test_owner_makes_a_key_shown_once_with_a_recognisable_prefix(
    client: httpx.AsyncClient, owner: Tenant
) -> None:
    created = await make_key(client, owner, ("read",), expires_at="2099-01-01T00:00:00+00:00")
    key = created["key"]
    assert key.startswith("rk_live_")
    assert len(key) == 56
    assert created["prefix"] == key[:16]
    assert created["scopes"] == ["read"]
    assert created["expires_at"].startswith("2099-01-01")
    assert created["created_by_user_id"] == owner.user_id
    assert created["last_used_at"] is None
    assert created["revoked_at"] is None

    listing = await client.get(KEYS_PATH, headers=owner.headers)
    assert listing.status_code == 200
    assert listing.json()["total"] == 1
    (row,) = listing.json()["items"]
    assert row["id"] == created["id"]
    assert row["prefix"] == created["prefix"]
    assert "key" not in row
    assert key not in listing.text


async def test_the_key_is_stored_hashed_and_never_logged(
    app: Any, client: httpx.AsyncClient, owner: Tenant, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    key = (await make_key(client, owner))["key"]
    assert (await client.get("/api/v1/clients", headers=bearer(key))).status_code == 200
    async with app.state.engine.connect() as conn:
        rows = (await conn.execute(text("SELECT * FROM api_keys"))).all()
        events = (await conn.execute(text("SELECT payload FROM app_events"))).scalars().all()
    assert key not in repr(rows)
    assert key not in repr(events)
    assert rows[0].key_hash == hashlib.sha256(key.encode()).hexdigest()
    assert key not in caplog.text


async def test_keys_are_listed_newest_first_with_revoked_ones(
    client: httpx.AsyncClient, owner: Tenant
) -> None:
    first = await make_key(client, owner)
    second = await make_key(client, owner, ("read",))
    revoked = await client.delete(f"{KEYS_PATH}/{first['id']}", headers=owner.headers)
    assert revoked.status_code == 204
    again = await client.delete(f"{KEYS_PATH}/{first['id']}", headers=owner.headers)
    assert again.status_code == 204  # revoking twice changes nothing
    items = (await client.get(KEYS_PATH, headers=owner.headers)).json()["items"]
    assert [k["id"] for k in items] == [second["id"], first["id"]]
    assert items[1]["revoked_at"] is not None
    assert items[0]["revoked_at"] is None


async def test_members_may_not_make_list_or_revoke_keys(
    client: httpx.AsyncClient, owner: Tenant, member: Tenant
) -> None:
    made = await make_key(client, owner)
    body = {"name": "Mine", "scopes": ["read"]}
    for response in (
        await client.post(KEYS_PATH, headers=member.headers, json=body),
        await client.get(KEYS_PATH, headers=member.headers),
        await client.delete(f"{KEYS_PATH}/{made['id']}", headers=member.headers),
    ):
        assert response.status_code == 403, response.text
        assert response.json()["detail"]


async def test_another_business_cannot_see_or_revoke_a_key(
    client: httpx.AsyncClient, owner: Tenant, other_owner: Tenant
) -> None:
    made = await make_key(client, owner)
    listing = await client.get(KEYS_PATH, headers=other_owner.headers)
    assert listing.json()["total"] == 0
    foreign = await client.delete(f"{KEYS_PATH}/{made['id']}", headers=other_owner.headers)
    assert foreign.status_code == 404
    assert (await client.get("/api/v1/clients", headers=bearer(made["key"]))).status_code == 200


@pytest.mark.parametrize(
    "body",
    [
        {"name": "", "scopes": ["read"]},
        {"name": "No scopes", "scopes": []},
        {"name": "Bad scope", "scopes": ["admin"]},
        {"name": "Past", "scopes": ["read"], "expires_at": "2020-01-01T00:00:00+00:00"},
        {"name": "Naive", "scopes": ["read"], "expires_at": "2099-01-01T00:00:00"},
        {"name": "Mine", "scopes": ["read"], "business_id": "x"},
        {"name": "Mine", "scopes": ["read"], "key_hash": "0" * 64},
    ],
)
async def test_bad_key_requests_are_refused_and_make_nothing(
    client: httpx.AsyncClient, owner: Tenant, body: dict[str, Any]
) -> None:
    response = await client.post(KEYS_PATH, headers=owner.headers, json=body)
    assert response.status_code == 422, response.text
    assert (await client.get(KEYS_PATH, headers=owner.headers)).json()["total"] == 0


async def test_duplicate_scopes_are_kept_once(client: httpx.AsyncClient, owner: Tenant) -> None:
    made = await make_key(client, owner, ("write", "read", "write"))
    assert made["scopes"] == ["read", "write"]


async def test_making_and_revoking_keys_is_in_the_audit_log(
    client: httpx.AsyncClient, owner: Tenant
) -> None:
    made = await make_key(
        client, owner, expires_at=(datetime.now(UTC) + timedelta(days=30)).isoformat()
    )
    await client.delete(f"{KEYS_PATH}/{made['id']}", headers=owner.headers)
    events = await client.get(
        "/api/v1/events", headers=owner.headers, params={"action": "api_key."}
    )
    assert events.status_code == 200
    by_action = {e["action"]: e for e in events.json()["items"]}
    assert set(by_action) == {"api_key.created", "api_key.revoked"}
    for event in by_action.values():
        assert event["subject_type"] == "api_key"
        assert event["subject_id"] == made["id"]
        assert event["actor_user_id"] == owner.user_id
        assert event["payload"]["prefix"] == made["prefix"]
    assert by_action["api_key.created"]["payload"]["scopes"] == ["read", "write"]
    assert made["key"] not in events.text
