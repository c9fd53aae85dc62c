"""The dashboard: counts by status and channel, delivery rate, recent failures, reminders
due soon, and per-day buckets in the business's time zone; briefly cached per business."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from api.cache import MemoryCache
from api.dashboard import service
from core.types import utcnow
from tests.builders.rows import add_delivery_row, add_reminder_row
from tests.conftest import Tenant, register_tenant

SUMMARY = "/api/v1/dashboard/summary"
TIMESERIES = "/api/v1/dashboard/timeseries"


async def get(http: httpx.AsyncClient, tenant: Tenant, url: str, **params: Any) -> Any:
    response = await http.get(url, headers=tenant.headers, params=params)
    assert response.status_code == 200, response.text
    return response.json()


async def seed(app: Any, tenant: Tenant) -> None:
    """Deliveries: 3 delivered, 1 sent, 2 failed (one of them 2 days ago), 1 undelivered,
    1 pending, 1 skipped. Reminders: due in 1 h, in 3 d, in 10 d; one paused due in 1 h;
    one completed."""
    now = utcnow()
    reminder = await add_reminder_row(app, tenant, next_fire_at=now + timedelta(hours=1))
    await add_reminder_row(app, tenant, next_fire_at=now + timedelta(days=3))
    await add_reminder_row(app, tenant, next_fire_at=now + timedelta(days=10))
    await add_reminder_row(app, tenant, status="paused", next_fire_at=now + timedelta(hours=1))
    await add_reminder_row(app, tenant, status="completed", next_fire_at=None)
    spec = [
        ("delivered", "email", 1),
        ("delivered", "email", 2),
        ("delivered", "sms", 3),
        ("sent", "whatsapp", 4),
        ("failed", "sms", 5),
        ("failed", "email", 48),
        ("undelivered", "whatsapp", 6),
        ("pending", "email", 0),
        ("skipped", "sms", 7),
    ]
    for status, channel, hours_ago in spec:
        await add_delivery_row(
            app,
            tenant,
            reminder,
            status=status,
            channel=channel,
            created_at=now - timedelta(hours=hours_ago, minutes=1),
        )


async def test_summary_counts_the_business_deliveries_and_reminders(
    app: Any, client: httpx.AsyncClient, owner: Tenant
) -> None:
    await seed(app, owner)
    body = await get(client, owner, SUMMARY)
    deliveries = body["deliveries"]
    assert deliveries["total"] == 9
    assert deliveries["by_status"] == {
        "pending": 1,
        "sent": 1,
        "delivered": 3,
        "failed": 2,
        "undelivered": 1,
        "skipped": 1,
    }
    assert deliveries["by_channel"]["email"]["total"] == 4
    assert deliveries["by_channel"]["email"]["by_status"]["delivered"] == 2
    assert deliveries["by_channel"]["sms"]["by_status"] == {
        "pending": 0,
        "sent": 0,
        "delivered": 1,
        "failed": 1,
        "undelivered": 0,
        "skipped": 1,
    }
    assert deliveries["by_channel"]["whatsapp"]["total"] == 2
    # delivered / (sent + delivered + failed + undelivered) = 3 / 7
    assert body["delivery_rate"] == pytest.approx(3 / 7, abs=1e-4)
    assert body["failures_last_24h"] == 2  # the failure of 2 days ago is older
    reminders = body["reminders"]
    assert reminders["total"] == 5
    assert reminders["by_status"]["scheduled"] == 3
    assert reminders["by_status"]["paused"] == 1
    assert reminders["due_next_24h"] == 1  # the paused one is not due
    assert reminders["due_next_7d"] == 2


async def test_an_empty_business_has_zeros_and_no_rate(
    client: httpx.AsyncClient, owner: Tenant
) -> None:
    body = await get(client, owner, SUMMARY)
    assert body["deliveries"]["total"] == 0
    assert set(body["deliveries"]["by_channel"]) == {"email", "sms", "whatsapp"}
    assert body["delivery_rate"] is None
    assert body["reminders"]["due_next_7d"] == 0


async def test_summary_is_cached_per_business(
    app: Any, client: httpx.AsyncClient, owner: Tenant, other_owner: Tenant
) -> None:
    reminder = await add_reminder_row(app, owner)
    await add_delivery_row(app, owner, reminder, created_at=utcnow())
    first = await get(client, owner, SUMMARY)
    assert first["deliveries"]["total"] == 1

    await add_delivery_row(app, owner, reminder, created_at=utcnow())
    again = await get(client, owner, SUMMARY)
    assert again == first  # within the cache's time to live: the same figures

    # Another business has its own entry: it never sees the first one's figures.
    theirs = await get(client, other_owner, SUMMARY)
    assert theirs["deliveries"]["total"] == 0


async def test_summary_is_computed_again_once_the_cache_expires(
    app: Any, client: httpx.AsyncClient, owner: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = [1000.0]
    # setitem, not setattr: Starlette's State keeps attributes in a dict that setattr's undo
    # would not restore.
    monkeypatch.setitem(app.state._state, "cache", MemoryCache(clock=lambda: clock[0]))
    reminder = await add_reminder_row(app, owner)
    await add_delivery_row(app, owner, reminder, created_at=utcnow())
    assert (await get(client, owner, SUMMARY))["deliveries"]["total"] == 1
    await add_delivery_row(app, owner, reminder, created_at=utcnow())

    clock[0] += service.CACHE_TTL - 1
    assert (await get(client, owner, SUMMARY))["deliveries"]["total"] == 1
    clock[0] += 2
    assert (await get(client, owner, SUMMARY))["deliveries"]["total"] == 2


async def test_member_reads_the_dashboard(client: httpx.AsyncClient, member: Tenant) -> None:
    assert (await get(client, member, SUMMARY))["deliveries"]["total"] == 0
    assert len((await get(client, member, TIMESERIES, days=3))["days"]) == 3


async def test_anonymous_callers_are_refused(client: httpx.AsyncClient) -> None:
    for url in (SUMMARY, TIMESERIES):
        assert (await client.get(url)).status_code == 401


# -- timeseries -------------------------------------------------------------------------


async def test_timeseries_fills_every_day_with_zeros_oldest_first(
    client: httpx.AsyncClient, owner: Tenant
) -> None:
    body = await get(client, owner, TIMESERIES, days=5)
    assert body["timezone"] == "Europe/London"
    today = utcnow().astimezone(ZoneInfo("Europe/London")).date()
    assert [d["date"] for d in body["days"]] == [
        (today - timedelta(days=n)).isoformat() for n in range(4, -1, -1)
    ]
    for day in body["days"]:
        assert day["total"] == 0
        assert set(day["counts"]) == {
            "pending",
            "sent",
            "delivered",
            "failed",
            "undelivered",
            "skipped",
        }
    assert len((await get(client, owner, TIMESERIES))["days"]) == 30  # the default


async def test_timeseries_counts_days_in_the_business_time_zone(
    app: Any, client: httpx.AsyncClient
) -> None:
    tokyo = await register_tenant(client, "Nippon", "Asia/Tokyo")
    zone = ZoneInfo("Asia/Tokyo")
    today = utcnow().astimezone(zone).date()
    midnight = datetime.combine(today, datetime.min.time(), tzinfo=zone).astimezone(UTC)
    reminder = await add_reminder_row(app, tokyo)
    # 30 minutes either side of Tokyo's midnight: yesterday and today there (in UTC both
    # are on the same date, the previous one).
    await add_delivery_row(app, tokyo, reminder, created_at=midnight - timedelta(minutes=30))
    await add_delivery_row(app, tokyo, reminder, created_at=midnight + timedelta(minutes=30))
    await add_delivery_row(
        app, tokyo, reminder, created_at=midnight + timedelta(minutes=31), status="failed"
    )
    await add_delivery_row(app, tokyo, reminder, created_at=midnight - timedelta(days=1, minutes=1))

    body = await get(client, tokyo, TIMESERIES, days=2)
    assert body["timezone"] == "Asia/Tokyo"
    yesterday, this_day = body["days"]
    assert yesterday["date"] == (today - timedelta(days=1)).isoformat()
    assert yesterday["counts"]["delivered"] == 1  # the one from 2 days ago is out of range
    assert yesterday["total"] == 1
    assert this_day["date"] == today.isoformat()
    assert this_day["counts"]["delivered"] == 1
    assert this_day["counts"]["failed"] == 1
    assert this_day["total"] == 2


async def test_a_day_when_clocks_go_back_holds_all_its_25_hours(
    app: Any, client: httpx.AsyncClient, owner: Tenant
) -> None:
    # New York left DST at 06:00 UTC on 1 November 2026: that day ran from 04:00 UTC
    # (midnight EDT) to 05:00 UTC on the 2nd (midnight EST).
    reminder = await add_reminder_row(app, owner)
    moments = {
        datetime(2026, 11, 1, 3, 59, tzinfo=UTC): date(2026, 10, 31),
        datetime(2026, 11, 1, 4, 0, tzinfo=UTC): date(2026, 11, 1),
        datetime(2026, 11, 2, 4, 30, tzinfo=UTC): date(2026, 11, 1),  # 23:30 EST
        datetime(2026, 11, 2, 5, 0, tzinfo=UTC): date(2026, 11, 2),
    }
    for moment in moments:
        await add_delivery_row(app, owner, reminder, created_at=moment)
    async with app.state.sessionmaker() as session:
        series = await service.compute_timeseries(
            session,
            uuid.UUID(owner.business_id),
            "America/New_York",
            3,
            datetime(2026, 11, 2, 12, tzinfo=UTC),
        )
    assert [(d.date, d.total) for d in series.days] == [
        (date(2026, 10, 31), 1),
        (date(2026, 11, 1), 2),
        (date(2026, 11, 2), 1),
    ]


@pytest.mark.parametrize("days", ["0", "367", "many"])
async def test_timeseries_refuses_a_bad_number_of_days(
    client: httpx.AsyncClient, owner: Tenant, days: str
) -> None:
    response = await client.get(TIMESERIES, headers=owner.headers, params={"days": days})
    assert response.status_code == 422
    assert "days" in response.json()["detail"]
