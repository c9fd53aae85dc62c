"""Connecting to Temporal (dev server, self-hosted cluster or Temporal Cloud) from settings."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.client import Client
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig
from temporalio.service import TLSConfig

from core.settings import Settings
from workflows.reminder_client import Placement

SEARCH_ATTRIBUTES = {
    "BusinessId": "Keyword",
    "ReminderType": "Keyword",
    "ReminderState": "Keyword",
    "ClientIds": "KeywordList",
    "NextFireTime": "Datetime",
}


_INDEXED_TYPES = {
    "Keyword": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
    "KeywordList": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD_LIST,
    "Datetime": IndexedValueType.INDEXED_VALUE_TYPE_DATETIME,
}


async def register_search_attributes(client: Client) -> None:
    """Register SEARCH_ATTRIBUTES in the client's namespace (servers refuse unknown ones).
    The dev server gets them from `--search-attribute` flags instead."""
    await client.operator_service.add_search_attributes(
        AddSearchAttributesRequest(
            namespace=client.namespace,
            search_attributes={n: _INDEXED_TYPES[t] for n, t in SEARCH_ATTRIBUTES.items()},
        )
    )


def _pem(value: str) -> bytes:
    """A PEM given inline or as a path to a file holding it."""
    if "-----BEGIN" in value:
        return value.encode()
    return Path(value).read_bytes()


def tls_config(settings: Settings) -> TLSConfig | bool:
    if settings.TEMPORAL_TLS_CERT and settings.TEMPORAL_TLS_KEY:
        return TLSConfig(
            client_cert=_pem(settings.TEMPORAL_TLS_CERT),
            client_private_key=_pem(settings.TEMPORAL_TLS_KEY),
        )
    # Temporal Cloud with an API key always speaks TLS.
    return bool(settings.TEMPORAL_API_KEY)


def metrics_runtime(bind_address: str) -> Runtime:
    """A Temporal runtime serving the SDK's own metrics (workflow and activity task
    latencies, polls, request failures) as Prometheus text on `bind_address`."""
    return Runtime(telemetry=TelemetryConfig(metrics=PrometheusConfig(bind_address=bind_address)))


async def connect(
    settings: Settings, timeout: float = 10.0, runtime: Runtime | None = None
) -> Client:
    return await Client.connect(
        settings.TEMPORAL_ADDRESS,
        namespace=settings.TEMPORAL_NAMESPACE,
        api_key=settings.TEMPORAL_API_KEY,
        tls=tls_config(settings),
        connect_timeout=timedelta(seconds=timeout),
        runtime=runtime,
    )


class TemporalConnector:
    """Connects on first use and keeps the client, so the API starts while Temporal is down."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._client: Client | None = None
        self._lock = asyncio.Lock()

    def set_client(self, client: Client) -> None:
        self._client = client

    async def get(self, timeout: float = 5.0) -> Client:
        if self._client is not None:
            return self._client
        async with self._lock:
            if self._client is None:
                self._client = await asyncio.wait_for(
                    connect(self._settings, timeout=timeout), timeout=timeout + 1
                )
        return self._client

    async def check(self, timeout: float = 3.0) -> None:
        client = await self.get(timeout=timeout)
        healthy = await client.service_client.check_health(timeout=timedelta(seconds=timeout))
        if not healthy:
            raise RuntimeError("Temporal frontend reports not serving")


def placement(settings: Settings) -> Placement:
    """Where the settings say reminders run: their task queue and late-grace window."""
    return Placement(
        task_queue=settings.TEMPORAL_TASK_QUEUE, grace_seconds=settings.LATE_GRACE_PERIOD_SECONDS
    )
