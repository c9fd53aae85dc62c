"""Prometheus metrics at `GET /metrics`: HTTP traffic by route template, and the deliveries
and reminders in the database by state, counted at most every
METRICS_DATABASE_REFRESH_SECONDS (scrapes in between, and concurrent ones, share a count:
however often it is scraped, the database does one aggregate per period).

Every known (channel, status) and reminder status is always exposed, as 0 when there are no
rows, so a series never vanishes; a value outside the enums appears only while rows hold it.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import os
import time
from collections.abc import Iterable
from typing import Any

from fastapi import APIRouter, Request, Response
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import Unauthorized
from core.enums import Channel, DeliveryStatus, ReminderStatus
from core.repositories.dashboard import reminder_counts
from core.repositories.delivery_counts import delivery_counts

log = logging.getLogger(__name__)

router = APIRouter(tags=["metrics"])

UNMATCHED = "<unmatched>"
# The classic text format, which every Prometheus reads (newer prometheus_client versions
# call their output 1.0.0; for names like ours it is the same bytes).
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


Counts = tuple[dict[tuple[str, str], int], dict[str, int]]


class DatabaseCounts(Collector):
    """Rows by state, as last read by `refresh` (None: the last read failed)."""

    def __init__(self, refresh_seconds: float = 0.0) -> None:
        self.deliveries: dict[tuple[str, str], int] | None = None
        self.reminders: dict[str, int] | None = None
        self.refresh_seconds = refresh_seconds
        self._read_at: float | None = None
        self._lock = asyncio.Lock()

    def _fresh(self) -> bool:
        return self._read_at is not None and (
            time.monotonic() - self._read_at < self.refresh_seconds
        )

    async def refresh(self, sessionmaker: Any) -> None:
        """Count again, unless a scrape did within the period; scrapes that arrive while
        one counts wait for it and use its count."""
        if self._fresh():
            return
        async with self._lock:
            if self._fresh():
                return
            counts: Counts | None
            try:
                async with sessionmaker() as session:
                    counts = await _count_rows(session)
            except Exception:  # still serve the HTTP metrics; database_up says what failed
                log.warning("metrics: could not count rows", exc_info=True)
                counts = None
            self.deliveries, self.reminders = counts or (None, None)
            self._read_at = time.monotonic()

    def collect(self) -> Iterable[Metric]:
        up = GaugeMetricFamily(
            "database_up", "1 when this scrape could count rows in the database, else 0"
        )
        up.add_metric([], 0 if self.deliveries is None else 1)
        yield up
        if self.deliveries is None or self.reminders is None:
            return
        deliveries = GaugeMetricFamily(
            "deliveries", "Delivery rows by channel and status", labels=["channel", "status"]
        )
        known = {(c.value, s.value): 0 for c in Channel for s in DeliveryStatus}
        for (channel, status), count in sorted({**known, **self.deliveries}.items()):
            deliveries.add_metric([channel, status], count)
        yield deliveries
        reminders = GaugeMetricFamily("reminders", "Reminder rows by status", labels=["status"])
        known_states = {s.value: 0 for s in ReminderStatus}
        for status, count in sorted({**known_states, **self.reminders}.items()):
            reminders.add_metric([status], count)
        yield reminders


class Metrics:
    """One app's registry: HTTP counters and histograms plus the database counts."""

    def __init__(self, database_refresh_seconds: float = 0.0) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "http_requests",
            "HTTP requests by method, route template and status",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "http_request_duration_seconds",
            "Time to answer an HTTP request, by method and route template",
            ["method", "route"],
            registry=self.registry,
        )
        self.database = DatabaseCounts(database_refresh_seconds)
        self.registry.register(self.database)
        self.exposed = self._exposed()

    def _exposed(self) -> CollectorRegistry:
        """What /metrics reads: this registry, or, when several API processes share
        PROMETHEUS_MULTIPROC_DIR (`reminders api --workers N`), the HTTP figures every one
        of them wrote there (counters and histograms summed) and the database counts."""
        if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            return self.registry
        shared = CollectorRegistry()
        multiprocess.MultiProcessCollector(shared)
        shared.register(self.database)
        return shared


async def _count_rows(session: AsyncSession) -> Counts:
    return await delivery_counts(session, None), await reminder_counts(session)


def _check_token(request: Request) -> None:
    expected = request.app.state.settings.METRICS_TOKEN
    if not expected:
        return
    given = request.headers.get("authorization", "")
    if not hmac.compare_digest(given.encode(), f"Bearer {expected}".encode()):
        raise Unauthorized("A valid metrics token is required")


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request) -> Response:
    """Prometheus text: HTTP traffic, deliveries and reminders."""
    _check_token(request)
    state: Metrics = request.app.state.metrics
    await state.database.refresh(request.app.state.sessionmaker)
    return Response(generate_latest(state.exposed), media_type=CONTENT_TYPE)


def _full_template(scope: Scope, route: BaseRoute) -> str | None:
    """The whole path template of the matched route. FastAPI keeps a route of an included
    router with only its own router's prefix, so the rest comes from FastAPI's resolved
    context or, failing that, from the leading (static) segments of the request path."""
    context = scope.get("fastapi", {}).get("effective_route_context")
    resolved = getattr(context, "path_format", None)
    if isinstance(resolved, str):
        return resolved
    tail = getattr(route, "path", None)
    if not isinstance(tail, str):
        return None
    segments = scope["path"].split("/")
    return "/".join(segments[: max(1, len(segments) - tail.count("/"))]) + tail if tail else None


def _route_template(scope: Scope) -> str:
    """The matched route's template, never the raw path. A request no route matched, or
    answered before routing (a 413 from the body limit), is labelled UNMATCHED."""
    route = scope.get("route")
    template = _full_template(scope, route) if route is not None else None
    return template or UNMATCHED


class MetricsMiddleware:
    """Counts each HTTP request by method, route template and status, and times it."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500  # what the client gets when the app raises before answering
        started = time.perf_counter()

        async def send_with_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_with_status)
        finally:
            route = _route_template(scope)
            method = scope["method"] if scope["method"] in _METHODS else "other"
            self.metrics.requests.labels(method, route, str(status)).inc()
            self.metrics.latency.labels(method, route).observe(time.perf_counter() - started)


# Methods are labels too; anything else a client invents is folded into "other".
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
