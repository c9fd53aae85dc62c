"""`GET /notifications`: a business's delivery history across its reminders, newest first,
narrowed by status, channel, client, reminder and time; another business's never shows."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.builders.rows import add_delivery_row, add_reminder_row
from tests.conftest import Tenant

URL = "/api/v1/notifications"
T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


async def add_client(http: httpx.AsyncClient, tenant: Tenant, name: str = "Alice") -> str:
    response = await http.post(
        "/api/v1/clients",
        headers=tenant.headers,
        json={"name": name, "email": f"{uuid.uuid4().hex[:8]}@client.example.com"},
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def listed(http: httpx.AsyncClient, tenant: Tenant, **params: Any) -> tuple[list[str], int]:
    response = await http.get(URL, headers=tenant.headers, params=params)
    assert response.status_code == 200, response.text
    body = response.json()
    return [item["id"] for item in body["items"]], body["total"]


@pytest.fixture
async def history(app: Any, client: httpx.AsyncClient, owner: Tenant) -> dict[str, Any]:
    """Five deliveries an hour apart, across two reminders, two clients and channels."""
    alice, bob = await add_client(client, owner, "Alice"), await add_client(client, owner, "Bob")
    first, second = await add_reminder_row(app, owner), await add_reminder_row(app, owner)
    spec = [
        (first, "delivered", "email", alice),
        (first, "failed", "sms", bob),
        (second, "sent", "email", alice),
        (second, "delivered", "whatsapp", bob),
        (first, "undelivered", "sms", alice),
    ]
    ids = [
        await add_delivery_row(
            app,
            owner,
            reminder,
            created_at=T0 + timedelta(hours=i),
            status=s,
            channel=c,
            client_id=who,
        )
        for i, (reminder, s, c, who) in enumerate(spec)
    ]
    return {"ids": ids, "alice": alice, "bob": bob, "first": first, "second": second}


async def test_lists_every_delivery_newest_first(
    client: httpx.AsyncClient, owner: Tenant, history: dict[str, Any]
) -> None:
    ids, total = await listed(client, owner)
    assert ids == list(reversed(history["ids"]))
    assert total == 5
    response = await client.get(URL, headers=owner.headers)
    item = response.json()["items"][0]
    assert item["status"] == "undelivered"
    assert item["channel"] == "sms"
    assert item["reminder_id"] == history["first"]
    assert datetime.fromisoformat(item["created_at"]) == T0 + timedelta(hours=4)


async def test_pages_keep_the_total(
    client: httpx.AsyncClient, owner: Tenant, history: dict[str, Any]
) -> None:
    newest_first = list(reversed(history["ids"]))
    assert await listed(client, owner, limit=2) == (newest_first[:2], 5)
    assert await listed(client, owner, limit=2, offset=2) == (newest_first[2:4], 5)
    assert await listed(client, owner, limit=2, offset=4) == (newest_first[4:], 5)


async def test_each_filter_narrows_the_list(
    client: httpx.AsyncClient, owner: Tenant, history: dict[str, Any]
) -> None:
    ids = history["ids"]
    assert await listed(client, owner, status="delivered") == ([ids[3], ids[0]], 2)
    assert await listed(client, owner, channel="sms") == ([ids[4], ids[1]], 2)
    assert await listed(client, owner, client_id=history["bob"]) == ([ids[3], ids[1]], 2)
    assert await listed(client, owner, reminder_id=history["second"]) == ([ids[3], ids[2]], 2)
    since, until = (T0 + timedelta(hours=1)).isoformat(), (T0 + timedelta(hours=3)).isoformat()
    # since is inclusive, until exclusive
    assert await listed(client, owner, since=since, until=until) == ([ids[2], ids[1]], 2)
    assert await listed(client, owner, since=since, channel="email") == ([ids[2]], 1)
    assert await listed(client, owner, status="failed", client_id=history["alice"]) == ([], 0)


async def test_an_offset_in_since_is_honoured(
    client: httpx.AsyncClient, owner: Tenant, history: dict[str, Any]
) -> None:
    # 15:00 in Paris (+01:00) is 14:00 UTC: the last three deliveries.
    ids, total = await listed(client, owner, since="2026-11-01T15:00:00+01:00")
    assert total == 3
    assert ids == list(reversed(history["ids"][2:]))


async def test_member_reads_the_history(
    client: httpx.AsyncClient, member: Tenant, history: dict[str, Any]
) -> None:
    assert (await listed(client, member))[1] == 5


async def test_another_business_never_sees_the_deliveries(
    app: Any,
    client: httpx.AsyncClient,
    owner: Tenant,
    other_owner: Tenant,
    history: dict[str, Any],
) -> None:
    theirs = await add_reminder_row(app, other_owner)
    their_delivery = await add_delivery_row(app, other_owner, theirs, created_at=T0)
    assert await listed(client, other_owner) == ([their_delivery], 1)
    # Filtering by the other business's ids matches nothing (no 404: a filter, not a lookup).
    assert await listed(client, other_owner, reminder_id=history["first"]) == ([], 0)
    assert await listed(client, other_owner, client_id=history["alice"]) == ([], 0)
    assert await listed(client, owner, reminder_id=theirs) == ([], 0)
    assert their_delivery not in (await listed(client, owner, limit=200))[0]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"status": "lost"}, "status"),
        ({"channel": "fax"}, "channel"),
        ({"client_id": "not-a-uuid"}, "client_id"),
        ({"reminder_id": "42"}, "reminder_id"),
        ({"since": "yesterday"}, "since"),
        ({"until": "2026-11-01T12:00:00"}, "until"),  # no offset: ambiguous
        ({"limit": 201}, "limit"),
        ({"offset": -1}, "offset"),
    ],
)
async def test_a_bad_filter_is_422_naming_it(
    client: httpx.AsyncClient, owner: Tenant, params: dict[str, Any], field: str
) -> None:
    response = await client.get(URL, headers=owner.headers, params=params)
    assert response.status_code == 422, response.text
    assert field in response.json()["detail"]


async def test_since_after_until_is_422(client: httpx.AsyncClient, owner: Tenant) -> None:
    response = await client.get(
        URL,
        headers=owner.headers,
        params={"since": T0.isoformat(), "until": (T0 - timedelta(seconds=1)).isoformat()},
    )
    assert response.status_code == 422
    assert "since" in response.json()["detail"]


async def test_anonymous_caller_is_refused(client: httpx.AsyncClient) -> None:
    response = await client.get(URL)
    assert response.status_code == 401


async def test_one_delivery_reads_by_its_id_and_another_business_gets_404(
    client: httpx.AsyncClient,
    owner: Tenant,
    member: Tenant,
    other_owner: Tenant,
    history: dict[str, Any],
) -> None:
    failed = history["ids"][1]
    for tenant in (owner, member):
        response = await client.get(f"{URL}/{failed}", headers=tenant.headers)
        assert response.status_code == 200, response.text
        body = response.json()
        assert (body["id"], body["status"], body["channel"]) == (failed, "failed", "sms")
        assert (body["client_id"], body["reminder_id"]) == (history["bob"], history["first"])
    for path in (failed, str(uuid.uuid4()), "not-an-id"):
        refused = await client.get(f"{URL}/{path}", headers=other_owner.headers)
        assert refused.status_code == 404
        assert refused.json()["detail"] == "Delivery not found"
