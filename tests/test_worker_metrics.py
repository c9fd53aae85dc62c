"""The worker serves the Temporal SDK's own metrics as Prometheus text on a port of its own."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from pydantic import ValidationError

from core.settings import Settings
from tests.builders.delivery import free_port
from workflows.diagnostics import PingInput, PingWorkflow


async def scrape_when_up(url: str, timeout: float = 30.0) -> str:
    deadline = asyncio.get_running_loop().time() + timeout
    async with httpx.AsyncClient() as http:
        while True:
            try:
                response = await http.get(url)
                if response.status_code == 200:
                    return response.text
            except httpx.TransportError:
                pass
            if asyncio.get_running_loop().time() > deadline:
                pytest.fail(f"nothing answered at {url} within {timeout}s")
            await asyncio.sleep(0.2)


async def test_worker_exposes_temporal_sdk_metrics_on_its_metrics_address(
    temporal_dev: Any, database_url: str
) -> None:
    address = f"127.0.0.1:{free_port()}"
    queue = f"worker-metrics-{uuid.uuid4().hex[:8]}"
    env = {
        "ENV": "testing",
        "DATABASE_URL": database_url,
        "TEMPORAL_ADDRESS": temporal_dev.client.service_client.config.target_host,
        "TEMPORAL_NAMESPACE": temporal_dev.client.namespace,
        "TEMPORAL_TASK_QUEUE": queue,
        "WORKER_METRICS_ADDRESS": address,
    }
    worker = await asyncio.create_subprocess_exec(
        str(Path(sys.executable).parent / "reminders"),
        "worker",
        env={**os.environ, **env},
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        await temporal_dev.client.execute_workflow(
            PingWorkflow.run,
            PingInput(message="metrics"),
            id=f"ping-{uuid.uuid4()}",
            task_queue=queue,
            execution_timeout=timedelta(seconds=60),
        )
        text = await scrape_when_up(f"http://{address}/metrics")
    finally:
        worker.send_signal(signal.SIGTERM)
        _, err = await asyncio.wait_for(worker.communicate(), timeout=30)

    assert worker.returncode == 0, err.decode()
    names = {family.name for family in text_string_to_metric_families(text)}
    assert "temporal_workflow_completed" in names
    assert "temporal_request" in names
    assert f'task_queue="{queue}"' in text


def test_worker_metrics_are_off_unless_an_address_is_set() -> None:
    assert Settings(_env_file=None).WORKER_METRICS_ADDRESS is None  # type: ignore[call-arg]


@pytest.mark.parametrize(
    ("given", "address"),
    [("9464", "127.0.0.1:9464"), ("0.0.0.0:9464", "0.0.0.0:9464"), ("", None)],
)
def test_worker_metrics_address_takes_a_port_or_host_and_port(
    given: str, address: str | None
) -> None:
    settings = Settings(_env_file=None, WORKER_METRICS_ADDRESS=given)  # type: ignore[call-arg]

    assert settings.WORKER_METRICS_ADDRESS == address


@pytest.mark.parametrize("given", ["localhost", "127.0.0.1:http", "127.0.0.1:70000", ":9464"])
def test_worker_metrics_address_refuses_what_cannot_be_bound(given: str) -> None:
    with pytest.raises(ValidationError, match="WORKER_METRICS_ADDRESS"):
        Settings(_env_file=None, WORKER_METRICS_ADDRESS=given)  # type: ignore[call-arg]


async def test_worker_exits_1_with_a_clear_message_when_its_metrics_port_is_taken(
    database_url: str,
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        address = f"127.0.0.1:{taken.getsockname()[1]}"
        worker = await asyncio.create_subprocess_exec(
            str(Path(sys.executable).parent / "reminders"),
            "worker",
            env={**os.environ, "DATABASE_URL": database_url, "WORKER_METRICS_ADDRESS": address},
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(worker.communicate(), timeout=60)

    logs = out.decode() + err.decode()
    assert worker.returncode == 1, logs
    assert f"cannot serve metrics on WORKER_METRICS_ADDRESS={address}" in logs
    assert "Traceback" not in logs
