"""`reminders api --workers N`: N processes on one port, one /metrics that counts them all."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from core.settings import Settings
from tests.builders.delivery import free_port

REMINDERS = str(Path(sys.executable).parent / "reminders")


def healthz_count(text: str) -> float:
    for family in text_string_to_metric_families(text):
        if family.name == "http_requests":
            return sum(
                sample.value
                for sample in family.samples
                if sample.name == "http_requests_total" and sample.labels["route"] == "/healthz"
            )
    return 0.0


def writers(directory: Path) -> set[str]:
    """The processes that wrote HTTP counters (prometheus_client names files by pid)."""
    return {path.stem.rpartition("_")[2] for path in directory.glob("counter_*.db")}


async def test_two_api_processes_serve_one_port_and_metrics_count_both(
    tmp_path: Path, database_url: str
) -> None:
    port = free_port()
    shared = tmp_path / "metrics"
    shared.mkdir()
    env = {
        **os.environ,
        "ENV": "testing",
        "DATABASE_URL": database_url,
        "API_WORKERS": "2",
        "PROMETHEUS_MULTIPROC_DIR": str(shared),
    }
    api = await asyncio.create_subprocess_exec(
        REMINDERS, "api", "--port", str(port), env=env,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    sent = 0
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 60
        # A new connection each time: the kernel hands them to either process.
        while len(writers(shared)) < 2:
            assert loop.time() < deadline, f"one process served everything: {writers(shared)}"
            async with httpx.AsyncClient() as http:
                try:
                    answers = await asyncio.gather(*(http.get(f"{base}/healthz") for _ in range(8)))
                except httpx.TransportError:
                    await asyncio.sleep(0.3)  # not listening yet
                    continue
            sent += sum(answer.status_code == 200 for answer in answers)
        for _ in range(6):  # whichever process answers the scrape counts every request
            async with httpx.AsyncClient() as http:
                scraped = await http.get(f"{base}/metrics")
            assert scraped.status_code == 200
            assert healthz_count(scraped.text) == sent
    finally:
        api.send_signal(signal.SIGTERM)
        _, err = await asyncio.wait_for(api.communicate(), timeout=30)
    assert api.returncode == 0, err.decode()[-2000:]
    assert shared.exists()  # the operator's directory is theirs: kept


def test_several_processes_without_redis_are_refused_in_production() -> None:
    alone = Settings(_env_file=None, API_WORKERS=2, REDIS_URL=None)  # type: ignore[call-arg]
    problems = alone.production_problems()
    assert any("API_WORKERS" in problem and "REDIS_URL" in problem for problem in problems)
    shared = Settings(_env_file=None, API_WORKERS=2, REDIS_URL="redis://127.0.0.1:6379/0")  # type: ignore[call-arg]
    assert not any("API_WORKERS" in problem for problem in shared.production_problems())


def test_reload_and_several_processes_are_refused_together() -> None:
    import subprocess

    done = subprocess.run(
        [REMINDERS, "api", "--workers", "2", "--reload"],
        capture_output=True, text=True, timeout=60, env={**os.environ, "ENV": "testing"},
    )  # fmt: skip
    assert done.returncode != 0
    assert "--reload runs one process" in done.stderr


@pytest.mark.parametrize("workers", ["0", "65"])
def test_api_workers_out_of_range_is_refused(workers: str) -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="API_WORKERS"):
        Settings(_env_file=None, API_WORKERS=workers)  # type: ignore[call-arg]


async def test_a_connection_idle_longer_than_uvicorns_five_seconds_is_still_answered(
    database_url: str,
) -> None:
    """A client (or load balancer) that pauses 6 s and reuses its connection gets an
    answer, not a connection the server closed under it."""
    port = free_port()
    env = {**os.environ, "ENV": "testing", "DATABASE_URL": database_url}
    api = await asyncio.create_subprocess_exec(
        REMINDERS, "api", "--port", str(port), env=env,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    request = f"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode()
    try:
        deadline = asyncio.get_running_loop().time() + 60
        while True:
            try:
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                break
            except OSError:
                assert asyncio.get_running_loop().time() < deadline, "the API never listened"
                await asyncio.sleep(0.3)
        answers = []
        for pause in (0, 6):
            await asyncio.sleep(pause)
            writer.write(request)
            await writer.drain()
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
            length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
            await reader.readexactly(length)
            answers.append(head.split(b"\r\n")[0])
        writer.close()
    finally:
        api.send_signal(signal.SIGTERM)
        _, err = await asyncio.wait_for(api.communicate(), timeout=30)
    assert answers == [b"HTTP/1.1 200 OK"] * 2
    # One process: uvicorn shuts down gracefully, then re-raises the SIGTERM it caught.
    assert api.returncode in (0, -signal.SIGTERM), err.decode()[-2000:]
    assert b"Application shutdown complete" in err
