"""A business's systems call the API with a key, as a member would, within its scopes; a
revoked or expired key is refused at once; a key never reaches another business, the
platform's routes, the caller's account or the keys themselves."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import text

from core.settings import Settings
from tests.builders.api_keys import KEYS_PATH, bearer, make_key, x_api_key
from tests.builders.apps import built_app, http_from
from tests.conftest import Tenant, register_tenant, superuser_headers


async def test_a_key_lists_and_makes_clients_as_bearer_and_as_x_api_key(
    client: httpx.AsyncClient, owner: Tenant
) -> None:
    key = (await make_key(client, owner))["key"]
    for headers in (bearer(key), x_api_key(key)):
        made = await client.post("/api/v1/clients", headers=headers, json={"name": "Ada"})
        assert made.status_code == 201, made.text
        listing = await client.get("/api/v1/clients", headers=headers)
        assert listing.status_code == 200
        assert made.json()["id"] in [c["id"] for c in listing.json()["items"]]
    business = await client.get("/api/v1/business", headers=x_api_key(key))
    assert business.json()["id"] == owner.business_id


async def test_a_read_key_is_refused_on_every_change(
    client: httpx.AsyncClient, owner: Tenant
) -> None:
    made = await client.post("/api/v1/clients", headers=owner.headers, json={"name": "Ada"})
    path = f"/api/v1/clients/{made.json()['id']}"
    headers = x_api_key((await make_key(client, owner, ("read",)))["key"])
    assert (await client.get(path, headers=headers)).status_code == 200
    for method, url, body in (
        ("POST", "/api/v1/clients", {"name": "Bea"}),
        ("PATCH", path, {"name": "Renamed"}),
        ("DELETE", path, None),
    ):
        response = await client.request(method, url, headers=headers, json=body)
        assert response.status_code == 403, (method, response.text)
        assert "write" in response.json()["detail"]
    still = await client.get(path, headers=owner.headers)
    assert still.json()["name"] == "Ada"


async def test_a_write_only_key_cannot_read(client: httpx.AsyncClient, owner: Tenant) -> None:
    headers = bearer((await make_key(client, owner, ("write",)))["key"])
    assert (await client.get("/api/v1/clients", headers=headers)).status_code == 403
    made = await client.post("/api/v1/clients", headers=headers, json={"name": "Ada"})
    assert made.status_code == 201


async def test_a_revoked_key_is_refused_at_once(client: httpx.AsyncClient, owner: Tenant) -> None:
    made = await make_key(client, owner)
    assert (await client.get("/api/v1/clients", headers=bearer(made["key"]))).status_code == 200
    await client.delete(f"{KEYS_PATH}/{made['id']}", headers=owner.headers)
    for headers in (bearer(made["key"]), x_api_key(made["key"])):
        refused = await client.get("/api/v1/clients", headers=headers)
        assert refused.status_code == 401
        assert refused.json()["detail"] == "Invalid, expired or revoked API key"


async def test_an_expired_key_is_refused(
    app: Any, client: httpx.AsyncClient, owner: Tenant
) -> None:
    soon = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    made = await make_key(client, owner, expires_at=soon)
    assert (await client.get("/api/v1/clients", headers=bearer(made["key"]))).status_code == 200
    async with app.state.engine.begin() as conn:
        past = datetime.now(UTC) - timedelta(seconds=1)
        await conn.execute(text("UPDATE api_keys SET expires_at = :at"), {"at": past})
    assert (await client.get("/api/v1/clients", headers=bearer(made["key"]))).status_code == 401


async def test_unknown_and_malformed_keys_are_refused_alike(client: httpx.AsyncClient) -> None:
    for key in (
        "rk_live_" + "x" * 48,
        "rk_live_short",
        "not-a-key",
        "rk_live_" + "~" * 48,
        "rk_live_" + "a" * 4000,
    ):
        for headers in (bearer(key), x_api_key(key)):
            response = await client.get("/api/v1/clients", headers=headers)
            assert response.status_code == 401, (key, response.text)
            assert response.headers["www-authenticate"] == "Bearer"


async def test_a_token_and_a_different_key_together_are_refused(
    client: httpx.AsyncClient, owner: Tenant
) -> None:
    key = (await make_key(client, owner))["key"]
    response = await client.get("/api/v1/clients", headers={**owner.headers, **x_api_key(key)})
    assert response.status_code == 401


async def test_a_key_sees_only_its_own_business(
    client: httpx.AsyncClient, owner: Tenant, other_owner: Tenant
) -> None:
    theirs = await client.post("/api/v1/clients", headers=other_owner.headers, json={"name": "B"})
    key = (await make_key(client, owner))["key"]
    path = f"/api/v1/clients/{theirs.json()['id']}"
    assert (await client.get(path, headers=bearer(key))).status_code == 404
    assert (await client.patch(path, headers=bearer(key), json={"name": "X"})).status_code == 404
    assert (await client.get("/api/v1/clients", headers=bearer(key))).json()["total"] == 0
    # X-Business-Id is for superusers: a key ignores it.
    headers = {**bearer(key), "X-Business-Id": other_owner.business_id}
    assert (await client.get("/api/v1/business", headers=headers)).json()["id"] == owner.business_id


async def test_a_key_never_reaches_admin_account_or_key_routes(
    app: Any, client: httpx.AsyncClient, owner: Tenant
) -> None:
    made = await make_key(client, owner)
    key = made["key"]
    refused = [
        ("GET", "/api/v1/users/me", None, 401),
        ("PATCH", "/api/v1/users/me", {"full_name": "Key"}, 401),
        ("GET", "/api/v1/admin/users", None, 401),
        ("GET", "/api/v1/admin/businesses", None, 401),
        ("GET", KEYS_PATH, None, 401),
        ("POST", KEYS_PATH, {"name": "Child", "scopes": ["read"]}, 401),
        ("DELETE", f"{KEYS_PATH}/{made['id']}", None, 401),
        # Owner-only routes: a key acts as a member.
        ("GET", "/api/v1/events", None, 403),
        ("PATCH", "/api/v1/business", {"name": "Renamed"}, 403),
    ]
    for headers in (bearer(key), x_api_key(key)):
        for method, path, body, status in refused:
            response = await client.request(method, path, headers=headers, json=body)
            assert response.status_code == status, (method, path, response.text)
            assert response.json()["detail"]
    # Even with a superuser's session beside it, a key is not a way into the admin routes.
    admin = {**(await superuser_headers(app, client)), **x_api_key(key)}
    assert (await client.get("/api/v1/admin/users", headers=admin)).status_code == 401
    listing = await client.get(KEYS_PATH, headers=owner.headers)
    assert listing.json()["items"][0]["revoked_at"] is None


async def test_last_use_is_recorded_at_most_once_a_minute(
    client: httpx.AsyncClient, owner: Tenant
) -> None:
    key = (await make_key(client, owner))["key"]

    async def last_used() -> str | None:
        row = (await client.get(KEYS_PATH, headers=owner.headers)).json()["items"][0]
        value: str | None = row["last_used_at"]
        return value

    assert await last_used() is None
    await client.get("/api/v1/clients", headers=bearer(key))
    first = await last_used()
    assert first is not None
    await client.get("/api/v1/business", headers=bearer(key))
    assert await last_used() == first


async def test_changes_made_with_a_key_name_it_in_the_audit_log(
    client: httpx.AsyncClient, owner: Tenant
) -> None:
    made = await make_key(client, owner)
    created = await client.post(
        "/api/v1/clients", headers=x_api_key(made["key"]), json={"name": "Ada"}
    )
    events = await client.get(
        "/api/v1/events", headers=owner.headers, params={"action": "client.created"}
    )
    (event,) = events.json()["items"]
    assert event["subject_id"] == created.json()["id"]
    assert event["actor_user_id"] == owner.user_id
    assert event["payload"]["key_id"] == made["id"]
    assert event["payload"]["key_prefix"] == made["prefix"]


async def test_a_key_stops_working_when_its_maker_leaves(
    client: httpx.AsyncClient, owner: Tenant
) -> None:
    second = await client.post(
        "/api/v1/business/members",
        headers=owner.headers,
        json={
            "email": f"partner-{uuid.uuid4().hex[:6]}@example.com",
            "full_name": "Partner",
            "password": owner.password,
            "role": "owner",
        },
    )
    assert second.status_code == 201, second.text
    login = await client.post(
        "/api/v1/auth/token",
        data={"username": second.json()["email"], "password": owner.password},
    )
    partner = Tenant(
        email=second.json()["email"],
        password=owner.password,
        user_id=second.json()["user_id"],
        business_id=owner.business_id,
        access_token=login.json()["access_token"],
        refresh_token=login.json()["refresh_token"],
    )
    made = await make_key(client, partner)
    assert (await client.get("/api/v1/clients", headers=bearer(made["key"]))).status_code == 200
    removed = await client.delete(
        f"/api/v1/business/members/{second.json()['id']}", headers=owner.headers
    )
    assert removed.status_code == 204
    assert (await client.get("/api/v1/clients", headers=bearer(made["key"]))).status_code == 401
    (row,) = (await client.get(KEYS_PATH, headers=owner.headers)).json()["items"]
    assert row["created_by_user_id"] == partner.user_id  # still says who made it


async def test_key_requests_are_rate_limited_per_key(settings: Settings) -> None:
    async with built_app(settings, API_RATE_LIMIT="3/minute") as app, http_from(app) as http:
        owner = await register_tenant(http, "Busy")
        first = (await make_key(http, owner))["key"]
        second = (await make_key(http, owner))["key"]
        for _ in range(3):
            assert (await http.get("/api/v1/clients", headers=bearer(first))).status_code == 200
        over = await http.get("/api/v1/clients", headers=x_api_key(first))
        assert over.status_code == 429
        assert "per API key" in over.json()["detail"]
        assert (await http.get("/api/v1/clients", headers=bearer(second))).status_code == 200
