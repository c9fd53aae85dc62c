"""`GET /metrics`: Prometheus text with HTTP traffic by route template and rows by state."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import event

from api.main import create_app
from core.models import Delivery, Reminder
from core.settings import Settings
from core.types import utcnow
from tests.conftest import Tenant, register_tenant

CLIENTS = "/api/v1/clients"


@pytest.fixture
async def fresh_app(settings: Settings) -> AsyncIterator[Any]:
    """An app of its own, so the HTTP counters hold only this test's requests."""
    application = create_app(settings)
    yield application
    await application.state.engine.dispose()


@pytest.fixture
async def http(fresh_app: Any) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=fresh_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client


Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def scrape(http: httpx.AsyncClient, **headers: str) -> Samples:
    response = await http.get("/metrics", headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


async def add_client(http: httpx.AsyncClient, tenant: Tenant) -> str:
    response = await http.post(CLIENTS, headers=tenant.headers, json={"name": "Ann"})
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def add_rows(
    app: Any, tenant: Tenant, client_id: str, status: str, deliveries: list[tuple[str, str]]
) -> None:
    """A reminder in `status` with one delivery per (channel, status)."""
    reminder_id = uuid.uuid4()
    async with app.state.sessionmaker() as session:
        session.add(
            Reminder(
                id=reminder_id,
                business_id=uuid.UUID(tenant.business_id),
                title="Q3 VAT return",
                type="deadline",
                client_ids=[client_id],
                channels=["email"],
                body="Hi",
                timezone="UTC",
                schedule={"kind": "once", "at": utcnow().isoformat()},
                workflow_id=f"reminder-{reminder_id}",
                status=status,
            )
        )
        await session.flush()
        for number, (channel, delivery_status) in enumerate(deliveries):
            session.add(
                Delivery(
                    business_id=uuid.UUID(tenant.business_id),
                    reminder_id=reminder_id,
                    client_id=uuid.UUID(client_id),
                    channel=channel,
                    to_address="ann@example.com",
                    occurrence_key=f"2026-01-0{number + 1}T09:00:00Z",
                    status=delivery_status,
                    attempts=1,
                )
            )
        await session.commit()


async def test_requests_are_counted_by_route_template_and_status(
    http: httpx.AsyncClient,
) -> None:
    owner = await register_tenant(http)
    client_id = await add_client(http, owner)
    assert (await http.get(f"{CLIENTS}/{client_id}", headers=owner.headers)).status_code == 200
    missing = uuid.uuid4()
    assert (await http.get(f"{CLIENTS}/{missing}", headers=owner.headers)).status_code == 404
    assert (await http.get(f"{CLIENTS}/not-an-id", headers=owner.headers)).status_code == 404
    assert (await http.post(CLIENTS, headers=owner.headers, json={})).status_code == 422
    assert (await http.get(f"/nowhere/{missing}")).status_code == 404

    response = await http.get("/metrics")
    samples = await scrape(http)

    route = "/api/v1/clients/{client_id}"
    assert value(samples, "http_requests_total", method="GET", route=route, status="200") == 1
    assert value(samples, "http_requests_total", method="GET", route=route, status="404") == 2
    assert value(samples, "http_requests_total", method="POST", route=CLIENTS, status="201") == 1
    assert value(samples, "http_requests_total", method="POST", route=CLIENTS, status="422") == 1
    assert (
        value(samples, "http_requests_total", method="GET", route="<unmatched>", status="404") == 1
    )
    # Histogram buckets per route: every request lands in the +Inf bucket.
    inf = value(
        samples, "http_request_duration_seconds_bucket", method="GET", route=route, le="+Inf"
    )
    assert inf == 3
    assert value(samples, "http_request_duration_seconds_count", method="GET", route=route) == 3
    assert (
        value(samples, "http_request_duration_seconds_bucket", method="GET", route=route, le="0.1")
        is not None
    )
    # No raw id ever becomes a label.
    for text in (client_id, str(missing), "not-an-id"):
        assert text not in response.text


async def test_deliveries_and_reminders_are_counted_from_the_database(
    fresh_app: Any, http: httpx.AsyncClient
) -> None:
    owner = await register_tenant(http)
    client_id = await add_client(http, owner)
    await add_rows(fresh_app, owner, client_id, "scheduled", [("email", "sent"), ("sms", "failed")])
    await add_rows(fresh_app, owner, client_id, "scheduled", [("email", "sent")])
    await add_rows(fresh_app, owner, client_id, "paused", [("whatsapp", "delivered")])

    samples = await scrape(http)

    assert value(samples, "database_up") == 1
    assert value(samples, "deliveries", channel="email", status="sent") == 2
    assert value(samples, "deliveries", channel="sms", status="failed") == 1
    assert value(samples, "deliveries", channel="whatsapp", status="delivered") == 1
    assert value(samples, "reminders", status="scheduled") == 2
    assert value(samples, "reminders", status="paused") == 1
    # The rule: every known channel/status pair and reminder status is there, 0 when empty.
    assert value(samples, "deliveries", channel="sms", status="pending") == 0
    assert value(samples, "reminders", status="cancelled") == 0
    assert sum(v for (name, _), v in samples.items() if name == "deliveries") == 4
    assert len([name for name, _ in samples if name == "deliveries"]) == 3 * 6
    assert len([name for name, _ in samples if name == "reminders"]) == 5


async def test_database_down_still_serves_http_metrics(settings: Settings, tmp_path: Any) -> None:
    broken = settings.model_copy(
        update={"DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'missing' / 'db.sqlite'}"}
    )
    application = create_app(broken)
    transport = httpx.ASGITransport(app=application)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            await client.get("/healthz")
            samples = await scrape(client)
    finally:
        await application.state.engine.dispose()

    assert value(samples, "database_up") == 0
    assert not any(name in ("deliveries", "reminders") for name, _ in samples)
    assert value(samples, "http_requests_total", method="GET", route="/healthz", status="200") == 1


async def test_metrics_token_is_required_when_set(settings: Settings) -> None:
    application = create_app(settings.model_copy(update={"METRICS_TOKEN": "scrape-secret"}))
    transport = httpx.ASGITransport(app=application)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            assert (await client.get("/metrics")).status_code == 401
            wrong = {"Authorization": "Bearer nope"}
            assert (await client.get("/metrics", headers=wrong)).status_code == 401
            samples = await scrape(client, Authorization="Bearer scrape-secret")
    finally:
        await application.state.engine.dispose()

    assert value(samples, "http_requests_total", method="GET", route="/metrics", status="401") == 2


async def test_metrics_is_open_without_a_token(client: httpx.AsyncClient) -> None:
    response = await client.get("/metrics")

    assert response.status_code == 200
    names = {family.name for family in text_string_to_metric_families(response.text)}
    assert {"http_requests", "http_request_duration_seconds", "deliveries", "reminders"} <= names


async def test_wrong_method_keeps_its_route_and_a_body_too_large_is_unmatched(
    http: httpx.AsyncClient, settings: Settings
) -> None:
    big = b"x" * (settings.MAX_REQUEST_BODY_BYTES + 1)
    assert (await http.post(CLIENTS, content=big)).status_code == 413
    assert (await http.put(CLIENTS)).status_code == 405
    assert (await http.get("/healthz")).status_code == 200

    samples = await scrape(http)

    # The body limit answers before routing, so there is no route to name.
    unmatched = value(
        samples, "http_requests_total", method="POST", route="<unmatched>", status="413"
    )
    assert unmatched == 1
    assert value(samples, "http_requests_total", method="PUT", route=CLIENTS, status="405") == 1
    assert value(samples, "http_requests_total", method="GET", route="/healthz", status="200") == 1


def test_a_route_outside_fastapi_routing_is_labelled_by_its_template() -> None:
    from starlette.routing import Route

    from api.metrics import _route_template

    route = Route("/clients/{client_id}", endpoint=lambda request: None)
    scope = {"type": "http", "path": "/api/v1/clients/42", "route": route}

    assert _route_template(scope) == "/api/v1/clients/{client_id}"
    assert _route_template({"type": "http", "path": "/api/v1/clients/42"}) == "<unmatched>"


async def test_scrapes_share_one_count_of_the_database(
    fresh_app: Any, http: httpx.AsyncClient
) -> None:
    """Anyone may scrape as often as they like (or many at once): the database is counted
    once per METRICS_DATABASE_REFRESH_SECONDS, not once per scrape."""
    counts: list[str] = []

    def count_aggregates(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if "GROUP BY" in statement and "FROM delivery_counts" in statement:
            counts.append(statement)

    engine = fresh_app.state.engine.sync_engine
    event.listen(engine, "before_cursor_execute", count_aggregates)
    try:
        await asyncio.gather(*(http.get("/metrics") for _ in range(20)))
        for _ in range(5):
            assert (await http.get("/metrics")).status_code == 200
    finally:
        event.remove(engine, "before_cursor_execute", count_aggregates)
    assert len(counts) == 1


async def test_counts_are_read_again_once_the_period_is_over(
    settings: Settings, tmp_path: Any
) -> None:
    application = create_app(settings.model_copy(update={"METRICS_DATABASE_REFRESH_SECONDS": 0}))
    transport = httpx.ASGITransport(app=application)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            owner = await register_tenant(client)
            before = await scrape(client)
            await add_rows(application, owner, await add_client(client, owner), "paused", [])
            after = await scrape(client)
    finally:
        await application.state.engine.dispose()
    assert value(after, "reminders", status="paused") == (
        (value(before, "reminders", status="paused") or 0) + 1
    )
