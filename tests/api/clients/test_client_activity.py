"""A client's detail counts its reminders and messages; an inactive client is left out of
a reminder's chase list (and its counts) until it is active again."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from core.models import Delivery
from tests.conftest import Tenant
from tests.seed import Seeded, add_reminder

CLIENTS = "/api/v1/clients"
LATER = {"kind": "once", "at": "2099-01-01T09:00:00+00:00"}


async def _client(http: httpx.AsyncClient, tenant: Tenant, **body: Any) -> str:
    response = await http.post(CLIENTS, headers=tenant.headers, json=body)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def _seed(app: Any, tenant: Tenant, client_id: str) -> Seeded:
    return Seeded(app.state.sessionmaker, uuid.UUID(tenant.business_id), uuid.UUID(client_id))


async def test_detail_counts_the_clients_reminders_and_messages(
    app: Any, client: httpx.AsyncClient, owner: Tenant, other_owner: Tenant
) -> None:
    ann = await _client(client, owner, name="Ann", tags=["vat"])
    bob = await _client(client, owner, name="Bob")
    seed = _seed(app, owner, ann)
    named = await add_reminder(seed, LATER, body="Hi")
    await add_reminder(seed, LATER, body="Hi", client_ids=[], tag="vat")
    await add_reminder(seed, LATER, body="Hi", client_ids=[bob])
    await add_reminder(seed, LATER, body="Hi", client_ids=[], tag="payroll")
    async with app.state.sessionmaker() as session:
        for key in ("2099-01-01T09:00:00Z", "2099-02-01T09:00:00Z"):
            session.add(
                Delivery(
                    business_id=seed.business_id,
                    reminder_id=named.id,
                    client_id=seed.client_id,
                    channel="email",
                    occurrence_key=key,
                    status="sent",
                )
            )
        await session.commit()

    detail = (await client.get(f"{CLIENTS}/{ann}", headers=owner.headers)).json()
    assert (detail["reminder_count"], detail["delivery_count"]) == (2, 2)
    other = (await client.get(f"{CLIENTS}/{bob}", headers=owner.headers)).json()
    assert (other["reminder_count"], other["delivery_count"]) == (1, 0)
    # The list stays as it was: the counts are for one client's page.
    listed = (await client.get(CLIENTS, headers=owner.headers)).json()["items"]
    assert "reminder_count" not in listed[0]


async def test_an_inactive_client_is_not_on_the_chase_list(
    app: Any, client: httpx.AsyncClient, owner: Tenant
) -> None:
    ann = await _client(client, owner, name="Ann", tags=["vat"])
    cat = await _client(client, owner, name="Cat", tags=["vat"])
    row = await add_reminder(_seed(app, owner, ann), LATER, body="Hi", client_ids=[], tag="vat")
    path = f"/api/v1/reminders/{row.id}/clients"

    before = (await client.get(path, headers=owner.headers)).json()
    assert [item["name"] for item in before["items"]] == ["Ann", "Cat"]
    paused = await client.patch(
        f"{CLIENTS}/{cat}", headers=owner.headers, json={"is_active": False}
    )
    assert paused.status_code == 200
    after = (await client.get(path, headers=owner.headers)).json()
    assert [item["name"] for item in after["items"]] == ["Ann"]
    assert after["counts"]["outstanding"] == 1

    await client.patch(f"{CLIENTS}/{cat}", headers=owner.headers, json={"is_active": True})
    again = (await client.get(path, headers=owner.headers)).json()
    assert [item["name"] for item in again["items"]] == ["Ann", "Cat"]
