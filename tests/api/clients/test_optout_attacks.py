"""A client's own opt-out (STOP, the unsubscribe link) is theirs: the law says only they may
lift it. Staff try to lift it anyway: by editing the client, by importing a CSV over it, by
deleting the client and adding it again. Each is refused, or does not change who gets
messages; what staff may do (opt a client out, take back their own opt-out) is audited."""

from __future__ import annotations

from typing import Any

import httpx

from core.settings import Settings
from tests.builders.twilio import (
    CLIENT_PHONE,
    TWILIO_INBOUND_URL,
    app_events,
    inbound_params,
    opted_out,
    post_signed,
    unsubscribe_link,
    upload_clients_csv,
)
from tests.conftest import Tenant

CLIENTS = "/api/v1/clients"
EMAIL = "alice@client.example.com"


async def add_client(http: httpx.AsyncClient, tenant: Tenant, **fields: Any) -> dict[str, Any]:
    body = {"name": "Alice Jones", "phone": CLIENT_PHONE, "email": EMAIL, **fields}
    response = await http.post(CLIENTS, headers=tenant.headers, json=body)
    assert response.status_code == 201, response.text
    return dict(response.json())


async def stop_by_sms(http: httpx.AsyncClient) -> None:
    response = await post_signed(http, TWILIO_INBOUND_URL, inbound_params("STOP"))
    assert response.status_code == 200, response.text


async def test_staff_cannot_clear_a_stop_by_editing_the_client(
    client: httpx.AsyncClient, owner: Tenant
) -> None:
    alice = await add_client(client, owner)
    await stop_by_sms(client)

    response = await client.patch(
        f"{CLIENTS}/{alice['id']}", headers=owner.headers, json={"opted_out_channels": []}
    )

    assert response.status_code == 422, response.text
    assert "START" in response.json()["detail"]
    assert await opted_out(client, owner, alice["id"]) == ["sms"]


async def test_staff_cannot_clear_an_unsubscribe_link_by_editing_the_client(
    client: httpx.AsyncClient, owner: Tenant, settings: Settings
) -> None:
    alice = await add_client(client, owner)
    assert (await client.post(unsubscribe_link(settings, alice["id"]))).status_code == 200

    response = await client.patch(
        f"{CLIENTS}/{alice['id']}",
        headers=owner.headers,
        json={"opted_out_channels": ["sms"], "name": "Alice J."},
    )

    assert response.status_code == 422, response.text
    assert "Subscribe again" in response.json()["detail"]
    assert await opted_out(client, owner, alice["id"]) == ["email"]


async def test_an_import_over_the_client_cannot_clear_their_stop(
    client: httpx.AsyncClient, owner: Tenant
) -> None:
    alice = await add_client(client, owner, external_ref="A-1")
    await stop_by_sms(client)

    result = await upload_clients_csv(
        client, owner, "name,external_ref,opted_out_channels\nAlice Jones,A-1,email\n"
    )

    assert result.status_code == 200, result.text
    [row] = result.json()["rows"]
    assert row["status"] == "rejected"
    assert "START" in row["errors"][0]
    assert await opted_out(client, owner, alice["id"]) == ["sms"]


async def test_a_new_record_for_an_address_that_opted_out_starts_opted_out(
    client: httpx.AsyncClient, owner: Tenant, settings: Settings
) -> None:
    alice = await add_client(client, owner)
    await stop_by_sms(client)
    assert (await client.post(unsubscribe_link(settings, alice["id"]))).status_code == 200
    assert (
        await client.delete(f"{CLIENTS}/{alice['id']}", headers=owner.headers)
    ).status_code == 204

    again = await add_client(client, owner, email=EMAIL.upper())
    assert sorted(again["opted_out_channels"]) == ["email", "sms"]

    imported = await upload_clients_csv(client, owner, f"name,phone\nAlice Again,{CLIENT_PHONE}\n")
    [row] = imported.json()["rows"]
    assert row["status"] == "created"
    assert await opted_out(client, owner, row["client_id"]) == ["sms"]


async def test_staff_may_take_back_their_own_opt_out_and_it_is_audited(
    app: Any, client: httpx.AsyncClient, owner: Tenant
) -> None:
    alice = await add_client(client, owner)
    path = f"{CLIENTS}/{alice['id']}"
    out = await client.patch(path, headers=owner.headers, json={"opted_out_channels": ["sms"]})
    assert out.status_code == 200, out.text
    back = await client.patch(path, headers=owner.headers, json={"opted_out_channels": []})
    assert back.status_code == 200, back.text

    [(_, opted_out_payload)] = await app_events(app, "client.opted_out")
    [(_, opted_in_payload)] = await app_events(app, "client.opted_in")
    for payload in (opted_out_payload, opted_in_payload):
        assert '"staff"' in str(payload) or "staff" in str(payload)
        assert "sms" in str(payload)


async def test_the_client_can_opt_back_in_themselves(
    client: httpx.AsyncClient, owner: Tenant, settings: Settings
) -> None:
    alice = await add_client(client, owner)
    await stop_by_sms(client)
    assert (await client.post(unsubscribe_link(settings, alice["id"]))).status_code == 200

    await post_signed(client, TWILIO_INBOUND_URL, inbound_params("START"))
    page = await client.post(
        unsubscribe_link(settings, alice["id"]), data={"action": "resubscribe"}
    )

    assert page.status_code == 200
    assert "again" in page.text
    assert await opted_out(client, owner, alice["id"]) == []
    # Nothing is held against the address any more: a new record starts opted in.
    other = await add_client(client, owner, name="Alice Again")
    assert other["opted_out_channels"] == []
