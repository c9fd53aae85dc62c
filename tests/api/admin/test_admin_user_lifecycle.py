"""Superusers create accounts (staff of a business, or superusers), read one with its
membership, and delete one: its access ends at once (tokens, refresh tokens, API keys),
it leaves its business, its email can be used again, and the audit log keeps naming it."""

from __future__ import annotations

from typing import Any

import httpx

from tests.builders.api_keys import make_key, x_api_key
from tests.conftest import (
    PASSWORD,
    Tenant,
    add_member,
    register_tenant,
    superuser_headers,
)

USERS = "/api/v1/admin/users"


async def login(http: httpx.AsyncClient, email: str, password: str = PASSWORD) -> httpx.Response:
    return await http.post("/api/v1/auth/token", data={"username": email, "password": password})


async def test_a_superuser_adds_staff_to_a_business_and_reads_the_account(
    app: Any, client: httpx.AsyncClient, owner: Tenant
) -> None:
    root = await superuser_headers(app, client)
    body = {
        "email": "New.Staff@Acme.example.com",
        "full_name": "New Staff",
        "password": PASSWORD,
        "business_id": owner.business_id,
        "role": "owner",
    }
    made = await client.post(USERS, headers=root, json=body)
    assert made.status_code == 201, made.text
    user = made.json()
    assert user["email"] == "new.staff@acme.example.com"
    assert (user["role"], user["business_id"], user["is_superuser"]) == (
        "owner",
        owner.business_id,
        False,
    )
    assert "hashed_password" not in user
    assert PASSWORD not in made.text

    read = await client.get(f"{USERS}/{user['id']}", headers=root)
    assert read.status_code == 200
    assert read.json() == user
    staff = await client.get("/api/v1/business/members", headers=owner.headers)
    assert user["id"] in {m["user_id"] for m in staff.json()["items"]}
    signed_in = await login(client, "new.staff@acme.example.com")
    assert signed_in.status_code == 200
    me = await client.get(
        "/api/v1/business", headers={"Authorization": f"Bearer {signed_in.json()['access_token']}"}
    )
    assert me.json()["id"] == owner.business_id

    events = await client.get(
        "/api/v1/admin/events", headers=root, params={"action": "admin.user_created"}
    )
    assert [e["subject_id"] for e in events.json()["items"]] == [user["id"]]


async def test_a_superuser_account_and_refusals(
    app: Any, client: httpx.AsyncClient, owner: Tenant, member: Tenant
) -> None:
    root = await superuser_headers(app, client)
    made = await client.post(
        USERS,
        headers=root,
        json={
            "email": "second-root@example.com",
            "full_name": "Root Two",
            "password": PASSWORD,
            "is_superuser": True,
        },
    )
    assert made.status_code == 201, made.text
    assert made.json()["is_superuser"] is True
    assert made.json()["business_id"] is None
    token = (await login(client, "second-root@example.com")).json()["access_token"]
    listed = await client.get(USERS, headers={"Authorization": f"Bearer {token}"})
    assert listed.status_code == 200

    base = {"full_name": "X Y", "password": PASSWORD}
    taken = await client.post(USERS, headers=root, json={**base, "email": owner.email.upper()})
    assert taken.status_code == 409
    unknown = await client.post(
        USERS,
        headers=root,
        json={
            **base,
            "email": "a@example.com",
            "business_id": "00000000-0000-4000-8000-000000000000",
        },
    )
    assert unknown.status_code == 404
    role_alone = await client.post(
        USERS, headers=root, json={**base, "email": "b@example.com", "role": "member"}
    )
    assert role_alone.status_code == 422
    weak = await client.post(
        USERS, headers=root, json={**base, "email": "c@example.com", "password": "short"}
    )
    assert weak.status_code == 422
    for headers in (owner.headers, member.headers):
        refused = await client.post(USERS, headers=headers, json={**base, "email": "d@example.com"})
        assert refused.status_code == 403
        assert (await client.get(f"{USERS}/{owner.user_id}", headers=headers)).status_code == 403
        deleted = await client.delete(f"{USERS}/{member.user_id}", headers=headers)
        assert deleted.status_code == 403
    assert (await login(client, member.email)).status_code == 200


async def test_a_deleted_account_ends_at_once_and_its_trail_stays(
    app: Any, client: httpx.AsyncClient, owner: Tenant
) -> None:
    root = await superuser_headers(app, client)
    staff = await add_member(client, owner, role="owner")
    staff_headers = {"Authorization": f"Bearer {staff.access_token}"}
    made = await client.post("/api/v1/clients", headers=staff_headers, json={"name": "Bob"})
    assert made.status_code == 201
    key = (await make_key(client, staff))["key"]
    assert (await client.get("/api/v1/clients", headers=x_api_key(key))).status_code == 200

    deleted = await client.delete(f"{USERS}/{staff.user_id}", headers=root)
    assert deleted.status_code == 204, deleted.text

    assert (await client.get("/api/v1/users/me", headers=staff_headers)).status_code == 401
    refreshed = await client.post(
        "/api/v1/auth/refresh", json={"refresh_token": staff.refresh_token}
    )
    assert refreshed.status_code == 401
    assert (await client.get("/api/v1/clients", headers=x_api_key(key))).status_code == 401
    assert (await login(client, staff.email)).status_code == 401
    assert (await client.get(f"{USERS}/{staff.user_id}", headers=root)).status_code == 404
    assert (await client.delete(f"{USERS}/{staff.user_id}", headers=root)).status_code == 404
    listed = await client.get(USERS, headers=root)
    assert staff.user_id not in {u["id"] for u in listed.json()["items"]}
    members = await client.get("/api/v1/business/members", headers=owner.headers)
    assert staff.user_id not in {m["user_id"] for m in members.json()["items"]}

    trail = await client.get(
        "/api/v1/admin/events", headers=root, params={"actor_user_id": staff.user_id}
    )
    actions = {e["action"]: e for e in trail.json()["items"]}
    assert actions["client.created"]["actor_email"] == staff.email
    assert actions["client.created"]["subject_id"] == made.json()["id"]
    audit = await client.get("/api/v1/events", headers=owner.headers)
    assert "client.created" in {e["action"] for e in audit.json()["items"]}

    again = await client.post(
        "/api/v1/auth/register",
        json={
            "email": staff.email,
            "password": PASSWORD,
            "full_name": "Same Address",
            "business_name": "Fresh Start",
        },
    )
    assert again.status_code == 201, again.text
    assert again.json()["user"]["id"] != staff.user_id


async def test_the_last_owner_and_the_superuser_themselves_cannot_be_deleted(
    app: Any, client: httpx.AsyncClient, owner: Tenant
) -> None:
    root = await superuser_headers(app, client)
    me = (await client.get("/api/v1/users/me", headers=root)).json()
    assert (await client.delete(f"{USERS}/{me['id']}", headers=root)).status_code == 409
    last = await client.delete(f"{USERS}/{owner.user_id}", headers=root)
    assert last.status_code == 409
    assert "last owner" in last.json()["detail"]
    assert (await client.get("/api/v1/business", headers=owner.headers)).status_code == 200

    second = await add_member(client, owner, role="owner")
    assert (await client.delete(f"{USERS}/{owner.user_id}", headers=root)).status_code == 204
    second_headers = {"Authorization": f"Bearer {second.access_token}"}
    assert (await client.get("/api/v1/business", headers=second_headers)).status_code == 200
    other = await register_tenant(client, "Rival")
    assert (await client.get("/api/v1/business", headers=other.headers)).status_code == 200
