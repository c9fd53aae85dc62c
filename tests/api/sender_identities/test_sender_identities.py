"""Sender identities: per-channel rules, exactly one default per channel, owner-only writes."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import text

from tests.conftest import Tenant, count_rows

URL = "/api/v1/sender-identities"
SID = "MG" + "0123456789abcdef" * 2


def email_identity(address: str, **extra: Any) -> dict[str, Any]:
    return {"channel": "email", "from_email": address, "from_name": "Acme", **extra}


async def create(http: httpx.AsyncClient, tenant: Tenant, body: dict[str, Any]) -> dict[str, Any]:
    response = await http.post(URL, headers=tenant.headers, json=body)
    assert response.status_code == 201, response.text
    return response.json()


async def defaults(http: httpx.AsyncClient, tenant: Tenant, channel: str) -> list[str]:
    """Ids of the channel's defaults, read back through the API."""
    response = await http.get(URL, headers=tenant.headers, params={"channel": channel})
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()["items"] if item["is_default"]]


async def test_first_identity_of_each_channel_becomes_its_default(
    client: httpx.AsyncClient, owner: Tenant
) -> None:
    first = await create(client, owner, email_identity("a@acme.example.com"))
    second = await create(client, owner, email_identity("b@acme.example.com"))
    sms = await create(client, owner, {"channel": "sms", "from_number": "+447911123456"})

    assert first["is_default"] is True
    assert second["is_default"] is False
    assert sms["is_default"] is True
    assert await defaults(client, owner, "email") == [first["id"]]
    assert await defaults(client, owner, "sms") == [sms["id"]]


async def test_is_default_moves_the_default_and_leaves_other_channels_alone(
    client: httpx.AsyncClient, owner: Tenant
) -> None:
    first = await create(client, owner, email_identity("a@acme.example.com"))
    second = await create(client, owner, email_identity("b@acme.example.com"))
    sms = await create(client, owner, {"channel": "sms", "messaging_service_sid": SID})

    third = await create(client, owner, email_identity("c@acme.example.com", is_default=True))
    assert third["is_default"] is True
    assert await defaults(client, owner, "email") == [third["id"]]
    demoted = await client.get(f"{URL}/{first['id']}", headers=owner.headers)
    assert demoted.json()["is_default"] is False

    patched = await client.patch(
        f"{URL}/{second['id']}", headers=owner.headers, json={"is_default": True}
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["is_default"] is True
    assert await defaults(client, owner, "email") == [second["id"]]

    again = await client.patch(
        f"{URL}/{second['id']}", headers=owner.headers, json={"is_default": True}
    )
    assert again.status_code == 200
    assert await defaults(client, owner, "email") == [second["id"]]
    assert await defaults(client, owner, "sms") == [sms["id"]]


async def test_unsetting_the_current_default_is_409_and_keeps_it(
    client: httpx.AsyncClient, owner: Tenant
) -> None:
    first = await create(client, owner, email_identity("a@acme.example.com"))
    await create(client, owner, email_identity("b@acme.example.com"))

    response = await client.patch(
        f"{URL}/{first['id']}", headers=owner.headers, json={"is_default": False}
    )

    assert response.status_code == 409
    assert "choose another default" in response.json()["detail"]
    assert await defaults(client, owner, "email") == [first["id"]]


async def test_deleting_the_default_promotes_the_oldest_remaining(
    client: httpx.AsyncClient, owner: Tenant
) -> None:
    oldest = await create(client, owner, email_identity("a@acme.example.com"))
    middle = await create(client, owner, email_identity("b@acme.example.com"))
    newest = await create(client, owner, email_identity("c@acme.example.com", is_default=True))

    assert (await client.delete(f"{URL}/{newest['id']}", headers=owner.headers)).status_code == 204
    assert await defaults(client, owner, "email") == [oldest["id"]]

    assert (await client.delete(f"{URL}/{oldest['id']}", headers=owner.headers)).status_code == 204
    assert await defaults(client, owner, "email") == [middle["id"]]

    assert (await client.delete(f"{URL}/{middle['id']}", headers=owner.headers)).status_code == 204
    listed = await client.get(URL, headers=owner.headers)
    assert listed.json() == {"items": [], "total": 0, "total_exact": True}


async def test_deleting_a_non_default_keeps_the_default(
    client: httpx.AsyncClient, owner: Tenant
) -> None:
    default = await create(client, owner, email_identity("a@acme.example.com"))
    other = await create(client, owner, email_identity("b@acme.example.com"))

    assert (await client.delete(f"{URL}/{other['id']}", headers=owner.headers)).status_code == 204

    assert await defaults(client, owner, "email") == [default["id"]]
    missing = await client.get(f"{URL}/{other['id']}", headers=owner.headers)
    assert missing.status_code == 404


async def test_read_model_carries_every_field_and_unverified_state(
    client: httpx.AsyncClient, owner: Tenant
) -> None:
    created = await create(
        client, owner, email_identity("Billing@Acme.Example.com", reply_to="help@acme.example.com")
    )

    fetched = await client.get(f"{URL}/{created['id']}", headers=owner.headers)

    assert fetched.status_code == 200
    body = fetched.json()
    assert body == created
    assert body["channel"] == "email"
    assert body["from_email"].lower() == "billing@acme.example.com"
    assert body["reply_to"] == "help@acme.example.com"
    assert body["verified"] is False
    assert body["verified_at"] is None
    assert {"id", "created_at", "updated_at", "from_number", "messaging_service_sid"} <= set(body)


async def test_whatsapp_number_is_stored_without_its_prefix(
    client: httpx.AsyncClient, owner: Tenant
) -> None:
    created = await create(
        client, owner, {"channel": "whatsapp", "from_number": "whatsapp:+44 7911 123456"}
    )

    assert created["from_number"] == "+447911123456"
    assert created["messaging_service_sid"] is None


async def test_sms_may_use_a_messaging_service_without_a_number(
    client: httpx.AsyncClient, owner: Tenant
) -> None:
    created = await create(client, owner, {"channel": "sms", "messaging_service_sid": SID})

    assert created["messaging_service_sid"] == SID
    assert created["from_number"] is None


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({"channel": "email", "from_name": "Acme"}, "email identities need from_email"),
        (
            {
                "channel": "email",
                "from_email": "a@acme.example.com",
                "from_number": "+447911123456",
            },
            "email identities take no from_number",
        ),
        ({"channel": "email", "from_email": "not-an-address"}, "from_email"),
        (
            {"channel": "email", "from_email": "a@acme.example.com", "reply_to": "nope"},
            "reply_to",
        ),
        ({"channel": "sms"}, "sms identities need from_number or messaging_service_sid"),
        ({"channel": "sms", "from_number": "07911123456"}, "E.164"),
        ({"channel": "sms", "messaging_service_sid": "MG123"}, "32 hex"),
        (
            {"channel": "sms", "from_number": "+447911123456", "from_email": "a@acme.example.com"},
            "sms identities take no from_email",
        ),
        (
            {"channel": "whatsapp", "messaging_service_sid": SID},
            "whatsapp identities need from_number",
        ),
        ({"channel": "fax", "from_number": "+447911123456"}, "channel"),
        (
            {
                "channel": "sms",
                "from_number": "+447911123456",
                "verified_at": "2026-01-01T00:00:00Z",
            },
            "verified_at",
        ),
    ],
)
async def test_invalid_identity_is_422_and_stores_nothing(
    client: httpx.AsyncClient, owner: Tenant, app: Any, body: dict[str, Any], says: str
) -> None:
    response = await client.post(URL, headers=owner.headers, json=body)

    assert response.status_code == 422, response.text
    assert says in response.json()["detail"]
    assert await count_rows(app, "sender_identities") == 0


async def test_patch_that_breaks_the_channel_rules_is_422_and_changes_nothing(
    client: httpx.AsyncClient, owner: Tenant
) -> None:
    created = await create(client, owner, email_identity("a@acme.example.com"))
    url = f"{URL}/{created['id']}"

    cleared = await client.patch(url, headers=owner.headers, json={"from_email": None})
    numbered = await client.patch(url, headers=owner.headers, json={"from_number": "+447911123456"})
    moved = await client.patch(url, headers=owner.headers, json={"channel": "sms"})

    assert cleared.status_code == 422
    assert "need from_email" in cleared.json()["detail"]
    assert numbered.status_code == 422
    assert moved.status_code == 422
    assert (await client.get(url, headers=owner.headers)).json() == created


async def test_patch_changes_the_address_fields(client: httpx.AsyncClient, owner: Tenant) -> None:
    created = await create(client, owner, {"channel": "sms", "from_number": "+447911123456"})

    response = await client.patch(
        f"{URL}/{created['id']}",
        headers=owner.headers,
        json={"from_number": None, "messaging_service_sid": SID},
    )

    assert response.status_code == 200, response.text
    assert response.json()["from_number"] is None
    assert response.json()["messaging_service_sid"] == SID
    assert response.json()["is_default"] is True


async def test_list_filters_by_channel_and_pages(client: httpx.AsyncClient, owner: Tenant) -> None:
    for n in range(3):
        await create(client, owner, email_identity(f"{n}@acme.example.com"))
    await create(client, owner, {"channel": "sms", "from_number": "+447911123456"})

    emails = await client.get(
        URL, headers=owner.headers, params={"channel": "email", "limit": 2, "offset": 1}
    )
    everything = await client.get(URL, headers=owner.headers)
    bad = await client.get(URL, headers=owner.headers, params={"channel": "fax"})

    assert emails.status_code == 200
    assert emails.json()["total"] == 3
    assert [i["from_email"] for i in emails.json()["items"]] == [
        "1@acme.example.com",
        "2@acme.example.com",
    ]
    assert everything.json()["total"] == 4
    assert bad.status_code == 422


async def test_member_may_read_identities_but_not_change_them(
    client: httpx.AsyncClient, owner: Tenant, member: Tenant, app: Any
) -> None:
    created = await create(client, owner, email_identity("a@acme.example.com"))
    url = f"{URL}/{created['id']}"

    posted = await client.post(URL, headers=member.headers, json=email_identity("b@x.example.com"))
    patched = await client.patch(url, headers=member.headers, json={"from_name": "Hijack"})
    deleted = await client.delete(url, headers=member.headers)
    listed = await client.get(URL, headers=member.headers)
    fetched = await client.get(url, headers=member.headers)

    assert (posted.status_code, patched.status_code, deleted.status_code) == (403, 403, 403)
    assert listed.status_code == 200
    assert listed.json()["total"] == 1
    assert fetched.status_code == 200
    assert fetched.json() == created
    assert await count_rows(app, "sender_identities") == 1


async def test_another_business_identity_is_404_and_unchanged(
    client: httpx.AsyncClient, owner: Tenant, other_owner: Tenant
) -> None:
    created = await create(client, owner, email_identity("a@acme.example.com"))
    url = f"{URL}/{created['id']}"

    fetched = await client.get(url, headers=other_owner.headers)
    patched = await client.patch(url, headers=other_owner.headers, json={"from_name": "Rival"})
    deleted = await client.delete(url, headers=other_owner.headers)
    listed = await client.get(URL, headers=other_owner.headers)

    assert (fetched.status_code, patched.status_code, deleted.status_code) == (404, 404, 404)
    assert fetched.json()["detail"] == "Sender identity not found"
    assert listed.json() == {"items": [], "total": 0, "total_exact": True}
    assert (await client.get(url, headers=owner.headers)).json() == created


async def test_malformed_identity_id_is_404(client: httpx.AsyncClient, owner: Tenant) -> None:
    fetched = await client.get(f"{URL}/not-a-uuid", headers=owner.headers)
    deleted = await client.delete(f"{URL}/not-a-uuid", headers=owner.headers)

    assert (fetched.status_code, deleted.status_code) == (404, 404)


async def test_identity_changes_are_recorded_as_events(
    client: httpx.AsyncClient, owner: Tenant, app: Any
) -> None:
    created = await create(client, owner, email_identity("a@acme.example.com"))
    await client.patch(f"{URL}/{created['id']}", headers=owner.headers, json={"from_name": "New"})
    await client.delete(f"{URL}/{created['id']}", headers=owner.headers)

    async with app.state.engine.connect() as conn:
        rows = await conn.execute(
            text("SELECT action FROM app_events WHERE subject_id = :id ORDER BY created_at"),
            {"id": created["id"]},
        )
    assert [row.action for row in rows] == [
        "sender_identity.created",
        "sender_identity.updated",
        "sender_identity.deleted",
    ]


async def test_switching_the_default_repeatedly_never_trips_the_unique_index(
    client: httpx.AsyncClient, owner: Tenant
) -> None:
    # Row update order follows the random ids, so several switches cover both orders.
    ids = [
        (await create(client, owner, email_identity(f"{n}@acme.example.com")))["id"]
        for n in range(3)
    ]

    for step in range(9):
        chosen = ids[step % 3]
        response = await client.patch(
            f"{URL}/{chosen}", headers=owner.headers, json={"is_default": True}
        )
        assert response.status_code == 200, response.text
        assert await defaults(client, owner, "email") == [chosen]
