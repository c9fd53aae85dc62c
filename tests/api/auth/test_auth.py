"""Registration, login, refresh rotation, logout and the caller's own account."""

from __future__ import annotations

import time

import httpx
from jose import jwt

from tests.conftest import PASSWORD, TEST_SECRET, Tenant, count_rows, register_tenant


async def test_register_creates_business_with_caller_as_owner(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/v1/auth/register",
        json={
            "email": "Ann@Example.com",
            "password": PASSWORD,
            "full_name": "Ann Accountant",
            "business_name": "Ann & Co",
            "timezone": "Europe/Paris",
        },
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["token_type"] == "bearer"
    assert body["user"]["email"] == "ann@example.com"
    assert body["user"]["role"] == "owner"
    assert body["business"]["name"] == "Ann & Co"
    assert body["business"]["timezone"] == "Europe/Paris"
    assert "hashed_password" not in response.text
    assert PASSWORD not in response.text

    me = await client.get(
        "/api/v1/users/me", headers={"Authorization": f"Bearer {body['access_token']}"}
    )
    assert me.status_code == 200
    assert me.json()["business_id"] == body["business"]["id"]


async def test_duplicate_email_is_409_and_creates_nothing(
    client: httpx.AsyncClient, owner: Tenant, app: object
) -> None:
    businesses = await count_rows(app, "businesses")
    response = await client.post(
        "/api/v1/auth/register",
        json={
            "email": owner.email.upper(),
            "password": PASSWORD,
            "full_name": "Copycat",
            "business_name": "Copy",
        },
    )
    assert response.status_code == 409
    assert "already exists" in response.json()["detail"]
    assert await count_rows(app, "businesses") == businesses


async def test_weak_password_and_unknown_timezone_are_refused(client: httpx.AsyncClient) -> None:
    base = {"email": "x@example.com", "full_name": "X", "business_name": "X"}
    weak = await client.post("/api/v1/auth/register", json={**base, "password": "short"})
    assert weak.status_code == 422
    assert "password" in weak.json()["detail"]
    too_long = await client.post("/api/v1/auth/register", json={**base, "password": "Aa1" * 30})
    assert too_long.status_code == 422
    assert "72 bytes" in too_long.json()["detail"]
    zone = await client.post(
        "/api/v1/auth/register", json={**base, "password": PASSWORD, "timezone": "Mars/Olympus"}
    )
    assert zone.status_code == 422
    assert "time zone" in zone.json()["detail"]


async def test_password_login_returns_bearer_pair(client: httpx.AsyncClient, owner: Tenant) -> None:
    response = await client.post(
        "/api/v1/auth/token", data={"username": owner.email, "password": PASSWORD}
    )
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] > 0
    me = await client.get(
        "/api/v1/users/me", headers={"Authorization": f"Bearer {body['access_token']}"}
    )
    assert me.json()["email"] == owner.email


async def test_wrong_password_is_401_and_recorded(
    client: httpx.AsyncClient, owner: Tenant, app: object
) -> None:
    events = await count_rows(app, "app_events")
    response = await client.post(
        "/api/v1/auth/token", data={"username": owner.email, "password": "Wrong-pass-1"}
    )
    assert response.status_code == 401
    assert response.json()["detail"] == "Incorrect email or password"
    unknown = await client.post(
        "/api/v1/auth/token", data={"username": "nobody@example.com", "password": "Wrong-pass-1"}
    )
    assert unknown.status_code == 401
    assert unknown.json()["detail"] == response.json()["detail"]
    assert await count_rows(app, "app_events") == events + 2


async def test_a_password_with_a_nul_byte_is_simply_wrong_for_known_and_unknown_emails(
    client: httpx.AsyncClient, owner: Tenant
) -> None:
    answers = [
        await client.post("/api/v1/auth/token", data={"username": email, "password": "Pa\x00ss-1"})
        for email in (owner.email, "nobody@example.com")
    ]

    assert [a.status_code for a in answers] == [401, 401]
    assert answers[0].json()["detail"] == answers[1].json()["detail"]


async def test_refresh_rotates_and_reuse_revokes_family(
    client: httpx.AsyncClient, owner: Tenant
) -> None:
    first = await client.post("/api/v1/auth/refresh", json={"refresh_token": owner.refresh_token})
    assert first.status_code == 200
    rotated = first.json()["refresh_token"]
    assert rotated != owner.refresh_token

    reused = await client.post("/api/v1/auth/refresh", json={"refresh_token": owner.refresh_token})
    assert reused.status_code == 401
    # The leak ends the whole family: the newest token stops working too.
    after = await client.post("/api/v1/auth/refresh", json={"refresh_token": rotated})
    assert after.status_code == 401


async def test_logout_revokes_refresh_token(client: httpx.AsyncClient, owner: Tenant) -> None:
    out = await client.post("/api/v1/auth/logout", json={"refresh_token": owner.refresh_token})
    assert out.status_code == 204
    again = await client.post("/api/v1/auth/refresh", json={"refresh_token": owner.refresh_token})
    assert again.status_code == 401


async def test_forged_expired_and_wrong_type_tokens_are_401(
    client: httpx.AsyncClient, owner: Tenant
) -> None:
    now = int(time.time())
    claims = {"sub": owner.user_id, "type": "access", "iat": now, "exp": now + 600}
    forged = jwt.encode(claims, "another-secret-" * 4, algorithm="HS256")
    expired = jwt.encode({**claims, "exp": now - 10}, TEST_SECRET, algorithm="HS256")
    wrong_type = jwt.encode({**claims, "type": "refresh"}, TEST_SECRET, algorithm="HS256")
    unsigned = jwt.encode(claims, "", algorithm="HS256").rsplit(".", 1)[0] + "."
    for token in (forged, expired, wrong_type, unsigned, "garbage", owner.refresh_token):
        response = await client.get(
            "/api/v1/users/me", headers={"Authorization": f"Bearer {token}"}
        )
        assert response.status_code == 401, token
        assert response.json()["detail"]
    anonymous = await client.get("/api/v1/users/me")
    assert anonymous.status_code == 401


async def test_password_change_needs_current_and_ends_other_sessions(
    client: httpx.AsyncClient, owner: Tenant
) -> None:
    wrong = await client.patch(
        "/api/v1/users/me",
        headers=owner.headers,
        json={"password": "New-Password-9", "current_password": "nope-nope-1"},
    )
    assert wrong.status_code == 400
    ok = await client.patch(
        "/api/v1/users/me",
        headers=owner.headers,
        json={"password": "New-Password-9", "current_password": PASSWORD},
    )
    assert ok.status_code == 200
    old_refresh = await client.post(
        "/api/v1/auth/refresh", json={"refresh_token": owner.refresh_token}
    )
    assert old_refresh.status_code == 401
    login = await client.post(
        "/api/v1/auth/token", data={"username": owner.email, "password": "New-Password-9"}
    )
    assert login.status_code == 200


async def test_two_registrations_make_two_businesses(client: httpx.AsyncClient) -> None:
    a = await register_tenant(client, "Alpha")
    b = await register_tenant(client, "Beta")
    assert a.business_id != b.business_id
