"""Clients over the REST API: create, list, search, change, delete, and isolation."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from tests.conftest import Tenant, count_rows

CLIENTS = "/api/v1/clients"


async def _create(http: httpx.AsyncClient, tenant: Tenant, **fields: Any) -> dict[str, Any]:
    response = await http.post(CLIENTS, headers=tenant.headers, json={"name": "Ann", **fields})
    assert response.status_code == 201, response.text
    return response.json()


async def _names(http: httpx.AsyncClient, tenant: Tenant, **params: Any) -> list[str]:
    response = await http.get(CLIENTS, headers=tenant.headers, params=params)
    assert response.status_code == 200, response.text
    return [item["name"] for item in response.json()["items"]]


async def _actions(app: Any) -> list[str]:
    async with app.state.engine.connect() as conn:
        rows = await conn.execute(
            text("SELECT action FROM app_events WHERE subject_type = 'client' ORDER BY created_at")
        )
        return [row[0] for row in rows]


async def test_created_client_comes_back_normalised(
    client: httpx.AsyncClient, owner: Tenant
) -> None:
    response = await client.post(
        CLIENTS,
        headers=owner.headers,
        json={
            "name": "  Ann Smith ",
            "email": "Ann.Smith@Example.COM",
            "phone": "+44 7911 123456",
            "whatsapp": "+1 (415) 555-2671",
            "timezone": "Europe/London",
            "tags": ["VIP", " vat ", "vip"],
            "preferred_channels": ["sms", "email"],
            "opted_out_channels": ["whatsapp"],
            "external_ref": "  CRM-1 ",
        },
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["name"] == "Ann Smith"
    assert body["email"] == "ann.smith@example.com"
    assert body["phone"] == "+447911123456"
    assert body["whatsapp"] == "+14155552671"
    assert sorted(body["tags"]) == ["vat", "vip"]
    assert body["preferred_channels"] == ["sms", "email"]
    assert body["opted_out_channels"] == ["whatsapp"]
    assert body["external_ref"] == "CRM-1"
    assert body["created_at"]
    assert body["updated_at"]

    fetched = await client.get(f"{CLIENTS}/{body['id']}", headers=owner.headers)
    assert fetched.status_code == 200
    assert fetched.json() == {**body, "reminder_count": 0, "delivery_count": 0}


async def test_client_with_only_a_name_has_empty_lists(
    client: httpx.AsyncClient, owner: Tenant
) -> None:
    body = await _create(client, owner, name="Bare")
    assert body["email"] is None
    assert body["phone"] is None
    assert body["timezone"] is None
    assert body["tags"] == []
    assert body["preferred_channels"] == []
    assert body["external_ref"] is None


async def test_staff_member_can_create_change_and_delete_clients(
    client: httpx.AsyncClient, owner: Tenant, member: Tenant
) -> None:
    created = await _create(client, member, name="Staff Made")
    assert await _names(client, owner) == ["Staff Made"]
    path = f"{CLIENTS}/{created['id']}"
    patched = await client.patch(path, headers=member.headers, json={"name": "Renamed"})
    assert patched.status_code == 200
    assert (await client.delete(path, headers=member.headers)).status_code == 204
    assert await _names(client, owner) == []


async def test_search_matches_name_email_phone_and_ref_ignoring_case(
    client: httpx.AsyncClient, owner: Tenant
) -> None:
    await _create(client, owner, name="Alice Adams", email="alice@one.example")
    await _create(client, owner, name="Bob Brown", email="bob@two.example", phone="+447911123456")
    await _create(client, owner, name="Carol Clark", whatsapp="+14155552671", external_ref="X-77")

    assert await _names(client, owner, search="ALICE") == ["Alice Adams"]
    assert await _names(client, owner, search="two.EXAMPLE") == ["Bob Brown"]
    assert await _names(client, owner, search="7911 123") == ["Bob Brown"]
    assert await _names(client, owner, search="4155552671") == ["Carol Clark"]
    assert await _names(client, owner, search="x-77") == ["Carol Clark"]
    assert await _names(client, owner, search="nobody") == []
    assert len(await _names(client, owner, search="  ")) == 3


async def test_search_treats_like_wildcards_literally(
    client: httpx.AsyncClient, owner: Tenant
) -> None:
    await _create(client, owner, name="100% Plumbing")
    await _create(client, owner, name="snake_case Ltd")
    await _create(client, owner, name="Plain Name")

    assert await _names(client, owner, search="%") == ["100% Plumbing"]
    assert await _names(client, owner, search="_") == ["snake_case Ltd"]
    assert await _names(client, owner, search="\\") == []


async def test_tag_filter_finds_only_clients_with_that_tag(
    client: httpx.AsyncClient, owner: Tenant, other_owner: Tenant
) -> None:
    await _create(client, owner, name="Tagged A", tags=["vat", "vip"])
    await _create(client, owner, name="Tagged B", tags=["vat"])
    await _create(client, owner, name="Untagged")
    await _create(client, other_owner, name="Rival Tagged", tags=["vat"])

    assert await _names(client, owner, tag="VAT") == ["Tagged A", "Tagged B"]
    assert await _names(client, owner, tag="vip") == ["Tagged A"]
    assert await _names(client, owner, tag="vat", search="b") == ["Tagged B"]
    assert await _names(client, owner, tag="payroll") == []


async def test_list_pages_by_name_with_total(client: httpx.AsyncClient, owner: Tenant) -> None:
    for name in ["echo", "Delta", "alpha", "Charlie", "bravo"]:
        await _create(client, owner, name=name)

    pages = []
    for offset in (0, 2, 4):
        response = await client.get(
            CLIENTS, headers=owner.headers, params={"limit": 2, "offset": offset}
        )
        assert response.json()["total"] == 5
        pages.append([item["name"] for item in response.json()["items"]])
    assert pages == [["alpha", "bravo"], ["Charlie", "Delta"], ["echo"]]


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"limit": 201}, "limit"),
        ({"offset": -1}, "offset"),
        ({"search": "x" * 201}, "search"),
        ({"search": "a\x00"}, "search"),
        ({"tag": "a\x00"}, "tag"),
    ],
)
async def test_bad_list_parameters_are_422_naming_them(
    client: httpx.AsyncClient, owner: Tenant, params: dict[str, Any], named: str
) -> None:
    response = await client.get(CLIENTS, headers=owner.headers, params=params)
    assert response.status_code == 422
    assert named in response.json()["detail"]


async def test_list_never_shows_another_business_clients(
    client: httpx.AsyncClient, owner: Tenant, other_owner: Tenant
) -> None:
    await _create(client, owner, name="Mine")
    await _create(client, other_owner, name="Theirs")

    response = await client.get(CLIENTS, headers=owner.headers, params={"search": "theirs"})
    assert response.json() == {"items": [], "total": 0, "total_exact": True}
    assert await _names(client, other_owner) == ["Theirs"]


async def test_patch_changes_given_fields_and_tags_replace_the_set(
    client: httpx.AsyncClient, owner: Tenant
) -> None:
    created = await _create(
        client, owner, email="a@example.com", phone="+447911123456", tags=["vat", "vip"]
    )
    path = f"{CLIENTS}/{created['id']}"

    response = await client.patch(
        path, headers=owner.headers, json={"tags": ["VIP", "payroll"], "email": None}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["tags"] == ["payroll", "vip"]
    assert body["email"] is None
    assert body["phone"] == "+447911123456"
    assert body["name"] == "Ann"
    updated_at = datetime.fromisoformat(body["updated_at"])
    assert updated_at > datetime.fromisoformat(created["updated_at"])

    assert await _names(client, owner, tag="vat") == []
    assert (await client.get(path, headers=owner.headers)).json()["tags"] == ["payroll", "vip"]


async def test_patch_refuses_null_for_required_fields(
    client: httpx.AsyncClient, owner: Tenant
) -> None:
    created = await _create(client, owner, tags=["vip"])
    path = f"{CLIENTS}/{created['id']}"
    for field in ("name", "tags", "preferred_channels"):
        response = await client.patch(path, headers=owner.headers, json={field: None})
        assert response.status_code == 422, field
        assert field in response.json()["detail"]
    unchanged = (await client.get(path, headers=owner.headers)).json()
    assert unchanged["name"] == "Ann"
    assert unchanged["tags"] == ["vip"]


async def test_deleted_client_is_gone_with_its_tags(
    client: httpx.AsyncClient, owner: Tenant, app: Any
) -> None:
    created = await _create(client, owner, tags=["vat", "vip"])
    path = f"{CLIENTS}/{created['id']}"

    assert (await client.delete(path, headers=owner.headers)).status_code == 204
    assert (await client.get(path, headers=owner.headers)).status_code == 404
    assert (await client.delete(path, headers=owner.headers)).status_code == 404
    assert await count_rows(app, "client_tags") == 0


async def test_another_business_client_is_404_and_stays_unchanged(
    client: httpx.AsyncClient, owner: Tenant, other_owner: Tenant
) -> None:
    theirs = await _create(client, other_owner, name="Theirs", tags=["secret"])
    path = f"{CLIENTS}/{theirs['id']}"

    get = await client.get(path, headers=owner.headers)
    patch = await client.patch(path, headers=owner.headers, json={"name": "Hijacked"})
    delete = await client.delete(path, headers=owner.headers)
    missing = await client.get(f"{CLIENTS}/{uuid.uuid4()}", headers=owner.headers)

    for response in (get, patch, delete):
        assert response.status_code == 404
        assert response.json() == missing.json()
    after = await client.get(path, headers=other_owner.headers)
    assert after.status_code == 200
    assert after.json() == {**theirs, "reminder_count": 0, "delivery_count": 0}


@pytest.mark.parametrize("bad_id", ["not-a-uuid", "123", "%00", "x" * 300])
async def test_malformed_client_id_answers_404(
    client: httpx.AsyncClient, owner: Tenant, bad_id: str
) -> None:
    response = await client.get(f"{CLIENTS}/{bad_id}", headers=owner.headers)
    assert response.status_code == 404
    assert response.json()["detail"] == "Client not found"


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"phone": "07911 123456"}, "phone"),
        ({"phone": "+44 7700 9"}, "phone"),
        ({"whatsapp": "+1" + "5" * 5000}, "whatsapp"),
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"timezone": 5}, "timezone"),
        ({"email": "not-an-email"}, "email"),
        ({"preferred_channels": ["pigeon"]}, "preferred_channels"),
        ({"opted_out_channels": ["sms", "sms"]}, "opted_out_channels"),
        ({"preferred_channels": "email"}, "preferred_channels"),
        ({"tags": ["ok", ""]}, "tags"),
        ({"tags": ["x" * 65]}, "tags"),
        ({"tags": "vip"}, "tags"),
        ({"name": None}, "name"),
        ({"name": "   "}, "name"),
        ({"name": "x" * 201}, "name"),
        ({"name": 42}, "name"),
        ({"external_ref": "r" * 101}, "external_ref"),
        ({"name": "A\u0000B"}, "name"),
        ({"tags": ["a\u0000"]}, "tags"),
        ({"business_id": str(uuid.uuid4())}, "business_id"),
    ],
)
async def test_bad_client_input_is_422_naming_the_field_and_stores_nothing(
    client: httpx.AsyncClient, owner: Tenant, app: Any, fields: dict[str, Any], named: str
) -> None:
    response = await client.post(CLIENTS, headers=owner.headers, json={"name": "Ann", **fields})
    assert response.status_code == 422, response.text
    assert named in response.json()["detail"]
    assert await count_rows(app, "clients") == 0


async def test_bad_patch_is_422_and_leaves_the_client_unchanged(
    client: httpx.AsyncClient, owner: Tenant
) -> None:
    created = await _create(client, owner, phone="+447911123456")
    path = f"{CLIENTS}/{created['id']}"
    for fields in ({"phone": "12345"}, {"timezone": "Nowhere"}, {"id": str(uuid.uuid4())}):
        response = await client.patch(path, headers=owner.headers, json=fields)
        assert response.status_code == 422, fields
    after = (await client.get(path, headers=owner.headers)).json()
    assert after == {**created, "reminder_count": 0, "delivery_count": 0}


async def test_external_ref_is_unique_per_business(
    client: httpx.AsyncClient, owner: Tenant, other_owner: Tenant, app: Any
) -> None:
    first = await _create(client, owner, external_ref="CRM-1")
    second = await _create(client, owner, name="Second", external_ref="CRM-2")

    duplicate = await client.post(
        CLIENTS, headers=owner.headers, json={"name": "Copy", "external_ref": "CRM-1"}
    )
    assert duplicate.status_code == 409
    assert "CRM-1" in duplicate.json()["detail"]
    assert await count_rows(app, "clients") == 2

    clash = await client.patch(
        f"{CLIENTS}/{second['id']}", headers=owner.headers, json={"external_ref": "CRM-1"}
    )
    assert clash.status_code == 409
    assert "external_ref" in clash.json()["detail"]

    same = await client.patch(
        f"{CLIENTS}/{first['id']}", headers=owner.headers, json={"external_ref": "CRM-1"}
    )
    assert same.status_code == 200
    await _create(client, other_owner, external_ref="CRM-1")


async def test_changes_are_recorded_in_the_audit_log(
    client: httpx.AsyncClient, owner: Tenant, app: Any
) -> None:
    created = await _create(client, owner)
    path = f"{CLIENTS}/{created['id']}"
    await client.patch(path, headers=owner.headers, json={"name": "Changed"})
    await client.delete(path, headers=owner.headers)
    assert await _actions(app) == ["client.created", "client.updated", "client.deleted"]


async def test_clients_need_authentication(client: httpx.AsyncClient) -> None:
    assert (await client.get(CLIENTS)).status_code == 401
    assert (await client.post(CLIENTS, json={"name": "Ann"})).status_code == 401
