"""Every resource is scoped to the caller's business: another business's id answers 404
for GET, PATCH and DELETE, exactly like a missing one, and nothing of it changes."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.conftest import Tenant, add_member, superuser_headers


@dataclass
class Resource:
    path: str
    create: dict[str, Any]
    patch: dict[str, Any]
    created_status: int = 201


RESOURCES = {
    "clients": Resource(
        "/api/v1/clients",
        {"name": "Secret Client", "email": "secret@client.example.com", "tags": ["vat"]},
        {"name": "Hijacked"},
    ),
    "templates": Resource(
        "/api/v1/templates",
        {"name": "Secret template", "subject": "Hi", "body": "Hello {{ client.name }}"},
        {"body": "Hijacked"},
    ),
    "sender-identities": Resource(
        "/api/v1/sender-identities",
        {"channel": "email", "from_email": "office@acme.example.com", "from_name": "Acme"},
        {"from_name": "Hijacked"},
    ),
}


async def _create(http: httpx.AsyncClient, tenant: Tenant, resource: Resource) -> dict[str, Any]:
    response = await http.post(resource.path, headers=tenant.headers, json=resource.create)
    assert response.status_code == resource.created_status, response.text
    return response.json()


@pytest.mark.parametrize("kind", list(RESOURCES))
async def test_other_business_gets_404_for_get_patch_delete(
    kind: str, client: httpx.AsyncClient, owner: Tenant, other_owner: Tenant
) -> None:
    resource = RESOURCES[kind]
    created = await _create(client, owner, resource)
    url = f"{resource.path}/{created['id']}"
    missing = f"{resource.path}/{uuid.uuid4()}"

    for method, body in (("GET", None), ("PATCH", resource.patch), ("DELETE", None)):
        foreign = await client.request(method, url, headers=other_owner.headers, json=body)
        absent = await client.request(method, missing, headers=other_owner.headers, json=body)
        assert foreign.status_code == 404, (kind, method, foreign.text)
        # Indistinguishable from an id that does not exist at all.
        assert foreign.json() == absent.json()

    listing = await client.get(resource.path, headers=other_owner.headers)
    assert created["id"] not in listing.text
    mine = await client.get(url, headers=owner.headers)
    assert mine.status_code == 200
    # (A client's detail adds its counts to what its creation answered.)
    assert {name: value for name, value in mine.json().items() if name in created} == created


async def test_other_business_members_cannot_be_removed(
    client: httpx.AsyncClient, owner: Tenant, other_owner: Tenant
) -> None:
    staff = await add_member(client, owner)
    members = (await client.get("/api/v1/business/members", headers=owner.headers)).json()
    row = next(m for m in members["items"] if m["user_id"] == staff.user_id)
    response = await client.delete(
        f"/api/v1/business/members/{row['id']}", headers=other_owner.headers
    )
    assert response.status_code == 404
    theirs = (await client.get("/api/v1/business/members", headers=other_owner.headers)).json()
    assert staff.email not in str(theirs)
    assert (await client.get("/api/v1/users/me", headers=staff.headers)).status_code == 200


async def test_business_endpoint_shows_only_own_business(
    client: httpx.AsyncClient, owner: Tenant, other_owner: Tenant
) -> None:
    mine = (await client.get("/api/v1/business", headers=owner.headers)).json()
    theirs = (await client.get("/api/v1/business", headers=other_owner.headers)).json()
    assert mine["id"] == owner.business_id
    assert theirs["id"] == other_owner.business_id


async def test_superuser_acts_on_a_business_only_when_naming_it(
    app: Any, client: httpx.AsyncClient, owner: Tenant
) -> None:
    created = await _create(client, owner, RESOURCES["clients"])
    headers = await superuser_headers(app, client)

    without = await client.get("/api/v1/clients", headers=headers)
    assert without.status_code == 404
    assert "X-Business-Id" in without.json()["detail"]

    scoped = {**headers, "X-Business-Id": owner.business_id}
    listing = await client.get("/api/v1/clients", headers=scoped)
    assert listing.status_code == 200
    assert [c["id"] for c in listing.json()["items"]] == [created["id"]]

    unknown = await client.get("/api/v1/clients", headers={**headers, "X-Business-Id": "nope"})
    assert unknown.status_code == 404


async def test_business_owner_cannot_use_x_business_id(
    client: httpx.AsyncClient, owner: Tenant, other_owner: Tenant
) -> None:
    await _create(client, owner, RESOURCES["clients"])
    response = await client.get(
        "/api/v1/clients", headers={**other_owner.headers, "X-Business-Id": owner.business_id}
    )
    assert response.status_code == 200
    assert response.json()["total"] == 0
