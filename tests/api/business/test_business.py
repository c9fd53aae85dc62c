"""Business settings and staff: owners manage, members read."""

from __future__ import annotations

import httpx

from tests.conftest import PASSWORD, Tenant, add_member, count_rows


async def test_owner_updates_timezone_channels_and_send_window(
    client: httpx.AsyncClient, owner: Tenant
) -> None:
    response = await client.patch(
        "/api/v1/business",
        headers=owner.headers,
        json={
            "timezone": "America/New_York",
            "default_channels": ["sms", "email"],
            "send_window_start": "08:30",
            "send_window_end": "19:00",
        },
    )
    assert response.status_code == 200, response.text
    again = (await client.get("/api/v1/business", headers=owner.headers)).json()
    assert again["timezone"] == "America/New_York"
    assert again["default_channels"] == ["sms", "email"]
    assert again["send_window_start"] == "08:30:00"
    assert again["send_window_end"] == "19:00:00"


async def test_bad_business_settings_are_422_and_change_nothing(
    client: httpx.AsyncClient, owner: Tenant
) -> None:
    before = (await client.get("/api/v1/business", headers=owner.headers)).json()
    for body, word in [
        ({"timezone": "Europe/Atlantis"}, "time zone"),
        ({"default_channels": ["fax"]}, "default_channels"),
        ({"default_channels": []}, "default_channels"),
        ({"default_channels": ["sms", "sms"]}, "repeat"),
        ({"send_window_start": "25:00"}, "send_window_start"),
        ({"send_window_start": "09:00", "send_window_end": "09:00"}, "differ"),
        ({"name": ""}, "name"),
        ({"name": None}, "name"),
        ({"id": "00000000-0000-0000-0000-000000000000"}, "id"),
        ({"country": "XX"}, "country"),
        ({"country": "United Kingdom"}, "country"),
        ({"country": "GBR"}, "country"),
    ]:
        response = await client.patch("/api/v1/business", headers=owner.headers, json=body)
        assert response.status_code == 422, (body, response.text)
        assert word in response.json()["detail"], (body, response.json())
    after = (await client.get("/api/v1/business", headers=owner.headers)).json()
    assert after == before


async def test_the_business_country_is_set_read_back_and_cleared(
    client: httpx.AsyncClient, owner: Tenant
) -> None:
    assert (await client.get("/api/v1/business", headers=owner.headers)).json()["country"] is None
    set_ = await client.patch("/api/v1/business", headers=owner.headers, json={"country": "gb"})
    assert set_.status_code == 200, set_.text
    assert set_.json()["country"] == "GB"
    assert (await client.get("/api/v1/business", headers=owner.headers)).json()["country"] == "GB"
    cleared = await client.patch("/api/v1/business", headers=owner.headers, json={"country": None})
    assert cleared.json()["country"] is None


async def test_member_reads_business_but_cannot_change_it(
    client: httpx.AsyncClient, owner: Tenant, member: Tenant
) -> None:
    read = await client.get("/api/v1/business", headers=member.headers)
    assert read.status_code == 200
    assert read.json()["id"] == owner.business_id
    patch = await client.patch("/api/v1/business", headers=member.headers, json={"name": "Mine"})
    assert patch.status_code == 403
    assert (await client.get("/api/v1/business", headers=owner.headers)).json()["name"] != "Mine"


async def test_member_cannot_manage_members(
    client: httpx.AsyncClient, owner: Tenant, member: Tenant, app: object
) -> None:
    users = await count_rows(app, "users")
    add = await client.post(
        "/api/v1/business/members",
        headers=member.headers,
        json={"email": "new@example.com", "full_name": "N", "password": PASSWORD},
    )
    assert add.status_code == 403
    members = (await client.get("/api/v1/business/members", headers=member.headers)).json()
    owner_row = next(m for m in members["items"] if m["role"] == "owner")
    remove = await client.delete(
        f"/api/v1/business/members/{owner_row['id']}", headers=member.headers
    )
    assert remove.status_code == 403
    assert await count_rows(app, "users") == users


async def test_owner_adds_and_removes_staff(client: httpx.AsyncClient, owner: Tenant) -> None:
    staff = await add_member(client, owner)
    listing = (await client.get("/api/v1/business/members", headers=owner.headers)).json()
    assert listing["total"] == 2
    row = next(m for m in listing["items"] if m["user_id"] == staff.user_id)
    assert row["role"] == "member"
    assert "password" not in str(listing)

    removed = await client.delete(f"/api/v1/business/members/{row['id']}", headers=owner.headers)
    assert removed.status_code == 204
    # The removed person's tokens and password stop working.
    me = await client.get("/api/v1/users/me", headers=staff.headers)
    assert me.status_code == 401
    login = await client.post(
        "/api/v1/auth/token", data={"username": staff.email, "password": PASSWORD}
    )
    assert login.status_code == 401


async def test_a_removed_member_stays_named_in_the_audit_log_and_their_email_is_free(
    client: httpx.AsyncClient, owner: Tenant
) -> None:
    staff = await add_member(client, owner)
    made = await client.post(
        "/api/v1/clients", headers=staff.headers, json={"name": "Made By Staff"}
    )
    assert made.status_code == 201, made.text
    listing = (await client.get("/api/v1/business/members", headers=owner.headers)).json()
    row = next(m for m in listing["items"] if m["user_id"] == staff.user_id)

    removed = await client.delete(f"/api/v1/business/members/{row['id']}", headers=owner.headers)
    events = (await client.get("/api/v1/events?limit=200", headers=owner.headers)).json()
    again = await client.post(
        "/api/v1/auth/register",
        json={
            "email": staff.email,
            "password": PASSWORD,
            "full_name": "Back Again",
            "business_name": "Own Firm",
        },
    )

    assert removed.status_code == 204
    by_staff = [e for e in events["items"] if e["actor_user_id"] == staff.user_id]
    assert {e["action"] for e in by_staff} >= {"client.created"}
    assert {e["actor_email"] for e in by_staff} == {staff.email}
    assert again.status_code == 201, again.text


async def test_last_owner_cannot_be_removed(client: httpx.AsyncClient, owner: Tenant) -> None:
    members = (await client.get("/api/v1/business/members", headers=owner.headers)).json()
    only = members["items"][0]
    response = await client.delete(f"/api/v1/business/members/{only['id']}", headers=owner.headers)
    assert response.status_code == 409
    assert "owner" in response.json()["detail"]


async def test_adding_existing_email_as_member_is_409(
    client: httpx.AsyncClient, owner: Tenant, other_owner: Tenant
) -> None:
    response = await client.post(
        "/api/v1/business/members",
        headers=owner.headers,
        json={"email": other_owner.email, "full_name": "Poach", "password": PASSWORD},
    )
    assert response.status_code == 409
    # The other business's owner is still theirs.
    me = (await client.get("/api/v1/users/me", headers=other_owner.headers)).json()
    assert me["business_id"] == other_owner.business_id


async def test_member_cannot_promote_self_via_fields(
    client: httpx.AsyncClient, member: Tenant
) -> None:
    response = await client.patch(
        "/api/v1/users/me", headers=member.headers, json={"role": "owner", "is_superuser": True}
    )
    assert response.status_code == 422
    me = (await client.get("/api/v1/users/me", headers=member.headers)).json()
    assert me["role"] == "member"
    assert me["is_superuser"] is False
