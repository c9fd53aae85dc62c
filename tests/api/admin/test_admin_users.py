"""Superusers administer accounts: list them, deactivate and reactivate them (their tokens
stop working at once), hand a locked-out user a one-time password reset link, and see
every business with its counts."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
from sqlalchemy import select

from core.models import AppEvent
from core.security import create_password_reset_token
from core.types import utcnow
from tests.conftest import (
    PASSWORD,
    PUBLIC_BASE_URL,
    TEST_SECRET,
    Tenant,
    register_tenant,
    superuser_headers,
)

USERS = "/api/v1/admin/users"
RESET = "/api/v1/auth/password-reset"
NEW_PASSWORD = "Brand-New-Pass-8"


async def actions(app: Any, subject_id: str) -> list[str]:
    async with app.state.sessionmaker() as session:
        stmt = select(AppEvent.action).where(AppEvent.subject_id == subject_id)
        return list((await session.scalars(stmt.order_by(AppEvent.created_at))).all())


async def login(http: httpx.AsyncClient, email: str, password: str) -> httpx.Response:
    return await http.post("/api/v1/auth/token", data={"username": email, "password": password})


async def test_superusers_list_every_account_with_filters_and_no_password_hash(
    app: Any, client: httpx.AsyncClient, owner: Tenant, member: Tenant, other_owner: Tenant
) -> None:
    root = await superuser_headers(app, client)
    everyone = await client.get(USERS, headers=root)
    assert everyone.status_code == 200, everyone.text
    assert everyone.json()["total"] == 4  # two owners, a member, the superuser
    for row in everyone.json()["items"]:
        assert "hashed_password" not in row
        assert "password" not in row
        assert set(row) >= {"id", "email", "is_active", "role", "business_id", "last_login_at"}
    acme = await client.get(USERS, headers=root, params={"business_id": owner.business_id})
    assert {row["id"] for row in acme.json()["items"]} == {owner.user_id, member.user_id}
    roles = {row["id"]: row["role"] for row in acme.json()["items"]}
    assert roles == {owner.user_id: "owner", member.user_id: "member"}
    found = await client.get(USERS, headers=root, params={"email": other_owner.email[:12].upper()})
    assert [row["id"] for row in found.json()["items"]] == [other_owner.user_id]
    wildcard = await client.get(USERS, headers=root, params={"email": "%"})
    assert wildcard.json()["total"] == 0  # a LIKE wildcard is only a character here
    page = await client.get(USERS, headers=root, params={"limit": 1, "offset": 1})
    assert page.json()["total"] == 4
    assert len(page.json()["items"]) == 1


async def test_a_deactivated_user_is_locked_out_at_once_and_back_when_reactivated(
    app: Any, client: httpx.AsyncClient, member: Tenant
) -> None:
    root = await superuser_headers(app, client)
    assert (await client.get("/api/v1/users/me", headers=member.headers)).status_code == 200
    off = await client.patch(f"{USERS}/{member.user_id}", headers=root, json={"is_active": False})
    assert off.status_code == 200, off.text
    assert off.json()["is_active"] is False
    # The access token issued before is refused on the very next request...
    me = await client.get("/api/v1/users/me", headers=member.headers)
    assert me.status_code == 401
    # ...the refresh token is revoked, and signing in is refused.
    refreshed = await client.post(
        "/api/v1/auth/refresh", json={"refresh_token": member.refresh_token}
    )
    assert refreshed.status_code == 401
    assert (await login(client, member.email, PASSWORD)).status_code == 401
    listed = await client.get(USERS, headers=root, params={"is_active": "false"})
    assert [row["id"] for row in listed.json()["items"]] == [member.user_id]

    on = await client.patch(f"{USERS}/{member.user_id}", headers=root, json={"is_active": True})
    assert on.status_code == 200
    assert on.json()["is_active"] is True
    signed_in = await login(client, member.email, PASSWORD)
    assert signed_in.status_code == 200
    token = signed_in.json()["access_token"]
    me = await client.get("/api/v1/users/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200
    events = await actions(app, member.user_id)
    assert "admin.user_deactivated" in events
    assert "admin.user_reactivated" in events


async def test_a_superuser_cannot_deactivate_themselves(
    app: Any, client: httpx.AsyncClient
) -> None:
    root = await superuser_headers(app, client)
    me = (await client.get("/api/v1/users/me", headers=root)).json()
    response = await client.patch(f"{USERS}/{me['id']}", headers=root, json={"is_active": False})
    assert response.status_code == 409
    assert "your own account" in response.json()["detail"]
    assert (await client.get("/api/v1/users/me", headers=root)).status_code == 200


async def test_patch_renames_and_refuses_other_fields(
    app: Any, client: httpx.AsyncClient, member: Tenant
) -> None:
    root = await superuser_headers(app, client)
    renamed = await client.patch(
        f"{USERS}/{member.user_id}", headers=root, json={"full_name": "Renamed Person"}
    )
    assert renamed.status_code == 200
    assert renamed.json()["full_name"] == "Renamed Person"
    for field, value in (("is_superuser", True), ("email", "x@example.com"), ("role", "owner")):
        refused = await client.patch(f"{USERS}/{member.user_id}", headers=root, json={field: value})
        assert refused.status_code == 422, (field, refused.text)
    me = (await client.get("/api/v1/users/me", headers=member.headers)).json()
    assert me["is_superuser"] is False
    assert me["role"] == "member"
    missing = await client.patch(f"{USERS}/{uuid.uuid4()}", headers=root, json={})
    assert missing.status_code == 404


async def test_owners_and_members_are_refused_admin_routes(
    app: Any, client: httpx.AsyncClient, owner: Tenant, member: Tenant
) -> None:
    routes = [
        ("GET", USERS, None),
        ("PATCH", f"{USERS}/{member.user_id}", {"is_active": False}),
        ("POST", f"{USERS}/{member.user_id}/password-reset", None),
        ("GET", "/api/v1/admin/businesses", None),
        ("GET", "/api/v1/admin/usage", None),
    ]
    for method, url, body in routes:
        for headers in (owner.headers, member.headers):
            response = await client.request(method, url, headers=headers, json=body)
            assert response.status_code == 403, (method, url, response.text)
        anonymous = await client.request(method, url, json=body)
        assert anonymous.status_code == 401, (method, url)
    assert (await client.get("/api/v1/users/me", headers=member.headers)).status_code == 200


async def _reset_token(app: Any, http: httpx.AsyncClient, user_id: str) -> str:
    root = await superuser_headers(app, http)
    issued = await http.post(f"{USERS}/{user_id}/password-reset", headers=root)
    assert issued.status_code == 200, issued.text
    body = issued.json()
    url = urlsplit(body["reset_url"])
    assert f"{url.scheme}://{url.netloc}" == PUBLIC_BASE_URL
    # A page to open in a browser, the code in the fragment (never sent to a server).
    assert url.path == "/admin/reset-password"
    assert url.query == ""
    assert parse_qs(url.fragment)["token"] == [body["token"]]
    return str(body["token"])


async def test_a_password_reset_link_works_once(
    app: Any, client: httpx.AsyncClient, member: Tenant
) -> None:
    token = await _reset_token(app, client, member.user_id)
    weak = await client.post(RESET, json={"token": token, "password": "password"})
    assert weak.status_code == 422  # as at registration; the link is still good
    done = await client.post(RESET, json={"token": token, "password": NEW_PASSWORD})
    assert done.status_code == 204, done.text
    assert (await login(client, member.email, NEW_PASSWORD)).status_code == 200
    assert (await login(client, member.email, PASSWORD)).status_code == 401
    # Sessions from before the reset are over.
    refreshed = await client.post(
        "/api/v1/auth/refresh", json={"refresh_token": member.refresh_token}
    )
    assert refreshed.status_code == 401
    again = await client.post(RESET, json={"token": token, "password": "Another-Pass-9"})
    assert again.status_code == 400
    assert "already used" in again.json()["detail"]
    assert (await login(client, member.email, NEW_PASSWORD)).status_code == 200
    events = await actions(app, member.user_id)
    assert "admin.password_reset_issued" in events
    assert "user.password_reset" in events


async def test_expired_forged_or_wrong_kind_of_reset_tokens_are_400(
    app: Any, client: httpx.AsyncClient, owner: Tenant
) -> None:
    from core.models import User

    async with app.state.sessionmaker() as session:
        user = await session.get(User, uuid.UUID(owner.user_id))
        assert user is not None
        hashed = user.hashed_password
    user_id = uuid.UUID(owner.user_id)
    expired = create_password_reset_token(
        user_id, hashed, TEST_SECRET, utcnow() - timedelta(minutes=1)
    )
    forged = create_password_reset_token(
        user_id, hashed, "another-secret-key-that-is-long-enough-00", utcnow() + timedelta(hours=1)
    )
    valid = create_password_reset_token(user_id, hashed, TEST_SECRET, utcnow() + timedelta(hours=1))
    # The same claims with `alg: none` and no signature.
    unsigned = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0." + valid.split(".")[1] + "."
    cases = {
        "expired": (expired, "expired"),
        "forged": (forged, "not valid"),
        "unsigned": (unsigned, "not valid"),
        "an access token": (owner.access_token, "not a password reset"),
        "garbage": ("not-a-token", "not valid"),
    }
    for name, (token, words) in cases.items():
        response = await client.post(RESET, json={"token": token, "password": NEW_PASSWORD})
        assert response.status_code == 400, (name, response.text)
        assert words in response.json()["detail"], (name, response.text)
    assert (await login(client, owner.email, PASSWORD)).status_code == 200


async def test_superusers_see_every_business_with_its_counts(
    app: Any, client: httpx.AsyncClient, owner: Tenant, member: Tenant
) -> None:
    rival = await register_tenant(client, "Rival")
    await client.post("/api/v1/clients", headers=owner.headers, json={"name": "Bob"})
    await client.post("/api/v1/clients", headers=owner.headers, json={"name": "Sue"})
    from tests.builders.rows import add_reminder_row

    await add_reminder_row(app, owner, status="scheduled")
    await add_reminder_row(app, owner, status="paused")
    await add_reminder_row(app, owner, status="completed")
    root = await superuser_headers(app, client)
    response = await client.get("/api/v1/admin/businesses", headers=root)
    assert response.status_code == 200, response.text
    assert response.json()["total"] == 2
    rows = {row["id"]: row for row in response.json()["items"]}
    acme = rows[owner.business_id]
    assert (acme["name"], acme["members"], acme["clients"], acme["active_reminders"]) == (
        "Acme Accounting",
        2,
        2,
        2,
    )
    assert rows[rival.business_id]["members"] == 1
    assert rows[rival.business_id]["clients"] == 0
