"""Long lists: a cursor that pages newest first without offsets, and counts that stop at a
cap and say so."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest

from core.repositories import base
from core.types import utcnow
from tests.builders.rows import add_delivery_row, add_reminder_row
from tests.conftest import Tenant

SAME_TIME = utcnow() - timedelta(hours=1)


async def seven_deliveries(app: Any, tenant: Tenant) -> list[str]:
    """Newest first; two share a timestamp, so the cursor must order by id as well."""
    reminder = await add_reminder_row(app, tenant)
    ids = []
    for minutes in (0, 1, 2, 3, 3, 4, 5):
        at = SAME_TIME - timedelta(minutes=minutes)
        ids.append(await add_delivery_row(app, tenant, reminder, created_at=at))
    return ids


async def walk(http: httpx.AsyncClient, tenant: Tenant, url: str, **params: Any) -> list[str]:
    seen: list[str] = []
    after = None
    for _ in range(20):
        query = {**params, "limit": 2, **({"after": after} if after else {})}
        page = await http.get(url, headers=tenant.headers, params=query)
        assert page.status_code == 200, page.text
        body = page.json()
        seen += [item["id"] for item in body["items"]]
        after = body["next_cursor"]
        if after is None:
            return seen
    raise AssertionError("the cursor never reached the end")


async def test_notifications_page_by_cursor_through_every_row_once_in_order(
    app: Any, client: httpx.AsyncClient, owner: Tenant
) -> None:
    await seven_deliveries(app, owner)
    everything = await client.get("/api/v1/notifications", headers=owner.headers)
    in_order = [item["id"] for item in everything.json()["items"]]
    assert len(in_order) == 7
    assert await walk(client, owner, "/api/v1/notifications") == in_order
    # Filters hold across pages.
    failed = await add_delivery_row(
        app, owner, await add_reminder_row(app, owner), created_at=SAME_TIME, status="failed"
    )
    assert await walk(client, owner, "/api/v1/notifications", status="failed") == [failed]


async def test_reminders_page_by_cursor_and_offset_still_works(
    app: Any, client: httpx.AsyncClient, owner: Tenant
) -> None:
    for _ in range(5):
        await add_reminder_row(app, owner)
    listed = await client.get("/api/v1/reminders", headers=owner.headers)
    in_order = [item["id"] for item in listed.json()["items"]]
    assert await walk(client, owner, "/api/v1/reminders") == in_order
    by_offset = await client.get(
        "/api/v1/reminders", headers=owner.headers, params={"limit": 2, "offset": 2}
    )
    assert [item["id"] for item in by_offset.json()["items"]] == in_order[2:4]


async def test_another_business_cursor_shows_only_your_own_rows(
    app: Any, client: httpx.AsyncClient, owner: Tenant, other_owner: Tenant
) -> None:
    theirs = await seven_deliveries(app, other_owner)
    page = await client.get(
        "/api/v1/notifications", headers=other_owner.headers, params={"limit": 2}
    )
    cursor = page.json()["next_cursor"]
    mine = await client.get(
        "/api/v1/notifications", headers=owner.headers, params={"after": cursor}
    )
    assert mine.status_code == 200
    assert not set(theirs) & {item["id"] for item in mine.json()["items"]}
    assert mine.json()["items"] == []


# A naive time (no offset) with a good id is refused too: rows are compared in UTC.
NAIVE = "MjAyNi0wMS0wMVQwMDowMDowMHwwMDAwMDAwMC0wMDAwLTAwMDAtMDAwMC0wMDAwMDAwMDAwMDE"


@pytest.mark.parametrize(
    "cursor", ["nonsense", "!!", "MjAyNnwxMjM", "bm90IGEgdGltZXx4", "x" * 101, NAIVE]
)
async def test_a_cursor_the_list_did_not_give_is_a_422(
    client: httpx.AsyncClient, owner: Tenant, cursor: str
) -> None:
    for url in ("/api/v1/notifications", "/api/v1/reminders"):
        response = await client.get(url, headers=owner.headers, params={"after": cursor})
        assert response.status_code == 422, (url, response.text)
        assert "after" in response.text


async def test_counts_stop_at_the_cap_and_say_so(
    app: Any, client: httpx.AsyncClient, owner: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    await seven_deliveries(app, owner)
    exact = (await client.get("/api/v1/notifications", headers=owner.headers)).json()
    assert (exact["total"], exact["total_exact"]) == (7, True)
    monkeypatch.setattr(base, "COUNT_CAP", 5)
    capped = (await client.get("/api/v1/notifications", headers=owner.headers)).json()
    assert (capped["total"], capped["total_exact"], len(capped["items"])) == (5, False, 7)
    one = await client.get("/api/v1/notifications", headers=owner.headers, params={"status": "x"})
    assert one.status_code == 422  # filters still validated
