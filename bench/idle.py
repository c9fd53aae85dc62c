"""What N sleeping reminders cost when nothing is due: worker memory and CPU, storage.

    .venv/bin/python -m bench.idle [--n 10000] [--idle 60] [--database-url URL]

Starts its own Temporal dev server on a SQLite file (as `make dev` runs it; 127.0.0.1, free
ports) and, for each phase, one worker process (`bench/workers.py`, the project's worker):

1. reminders: N recurring reminders (daily at 09:00 UTC from tomorrow), one client each,
   started as the API starts them, until every row says when it fires next;
2. minimal: N copies of the smallest sleeping workflow (`BenchCeilingWorkflow` due in a
   day: one timer) on a fresh worker process.

After each phase has settled it reads the worker's resident memory, its CPU over `--idle`
seconds of nothing due, and the growth of Temporal's database file (with its WAL) and of
the application database (SQLite file) per workflow. Never part of `make test`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from statistics import median
from typing import Any

from sqlalchemy import func, select
from temporalio.client import Client, WorkflowHandle

from bench.fire import (
    TASK_QUEUE,
    Bench,
    CeilingWorkflow,
    DevServer,
    add_max_cached,
    bounded,
    say,
    wait_for,
)
from bench.workers import READY, _argv
from core.db import create_engine, create_sessionmaker
from core.models import Reminder
from ops import migrations
from workflows.reminder import PAUSED, ReminderWorkflow

SETTLE = 10.0  # seconds after the last row synced, before measuring
TICKS = os.sysconf("SC_CLK_TCK")
QUIET_WINDOW = 5.0
PROBES = 20  # reminders queried, and as many signalled, after the idle measurement
PROBE_LABELS = ("query, slept", "query, cached", "signal, slept", "signal, cached")


@dataclass
class Figures:
    rss_mib: float
    cpu_percent: float
    temporal_bytes: float
    app_bytes: float | None
    probes: dict[str, list[float]] | None = None


def _rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _cpu_ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def _bytes(path: Path | None) -> int:
    assert path is not None, "the dev server must be on a file to be measured"
    return sum(p.stat().st_size for p in (path, Path(f"{path}-wal")) if p.exists())


async def _worker(args: argparse.Namespace, address: str, url: str) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(_argv(args, address, url), stdout=subprocess.PIPE)
    assert proc.stdout is not None
    line = await asyncio.to_thread(proc.stdout.readline)
    if line.decode().strip() != READY:
        raise SystemExit(f"the worker did not start: {line!r}")
    return proc


async def _quiet(worker: subprocess.Popen[bytes], timeout: float) -> None:
    """Until the worker has been below 1 % of a core for 5 s: every workflow asleep."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ticks = _cpu_ticks(worker.pid)
        await asyncio.sleep(QUIET_WINDOW)
        if (_cpu_ticks(worker.pid) - ticks) / TICKS / QUIET_WINDOW < 0.01:
            return
    raise TimeoutError(f"the worker was still busy after {timeout:.0f}s")


async def _measure(
    args: argparse.Namespace,
    worker: subprocess.Popen[bytes],
    server: DevServer,
    temporal_before: int,
    app: tuple[Path, int] | None,
) -> Figures:
    await _quiet(worker, args.timeout)
    await asyncio.sleep(SETTLE)
    ticks, began = _cpu_ticks(worker.pid), time.monotonic()
    await asyncio.sleep(args.idle)
    cpu = (_cpu_ticks(worker.pid) - ticks) / TICKS / (time.monotonic() - began) * 100
    temporal = (_bytes(server.db_path) - temporal_before) / args.n
    app_bytes = (_bytes(app[0]) - app[1]) / args.n if app else None
    return Figures(_rss_mib(worker.pid), cpu, temporal, app_bytes)


async def _timed(call: Awaitable[Any]) -> float:
    began = time.monotonic()
    await call
    return (time.monotonic() - began) * 1000


async def _paused(handle: WorkflowHandle[Any, Any]) -> None:
    await handle.signal(ReminderWorkflow.pause)
    # A query waits for the workflow task the signal made: it sees the pause when it's done.
    while (await handle.query(ReminderWorkflow.status)).state != PAUSED:
        await asyncio.sleep(0.01)


async def _probe(client: Client, rows: Sequence[Reminder]) -> dict[str, list[float]]:
    """Milliseconds a query, and a signal until it has been handled, take for a reminder
    that slept longest (started first: out of the cache once N exceeds it), then again at
    once for the same reminder, now back in the cache. One at a time, in order."""
    times: dict[str, list[float]] = {name: [] for name in PROBE_LABELS}
    for i, row in enumerate(rows[: 2 * PROBES]):
        handle = client.get_workflow_handle(row.workflow_id)
        if i % 2 == 0:
            times["query, slept"].append(await _timed(handle.query(ReminderWorkflow.status)))
            times["query, cached"].append(await _timed(handle.query(ReminderWorkflow.status)))
        else:
            times["signal, slept"].append(await _timed(_paused(handle)))
            await handle.signal(ReminderWorkflow.resume)
            times["signal, cached"].append(await _timed(_paused(handle)))
    return times


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


async def run(args: argparse.Namespace, server: DevServer, url: str, app_file: Path | None) -> None:
    client = await server.connect()
    engine = create_engine(url)
    sessionmaker = create_sessionmaker(engine)
    bench = Bench(client, sessionmaker, args, None)  # type: ignore[arg-type]
    results: dict[str, Figures] = {}
    try:
        worker = await _worker(args, server.address, url)
        try:
            temporal_before = _bytes(server.db_path)
            app = (app_file, _bytes(app_file)) if app_file else None
            say(f"reminders: {args.n} recurring, sleeping until tomorrow ...")
            at = datetime.now(UTC) + timedelta(days=1)
            start = at.replace(hour=9, minute=0, second=0, microsecond=0)
            rows = await bench.seed(
                at, {"kind": "recurring", "rrule": "FREQ=DAILY", "start": start.isoformat()}
            )
            await bounded([lambda row=row: bench.start_reminder(row, at) for row in rows], 32)

            async def synced() -> int:
                async with sessionmaker() as session:
                    stmt = select(func.count()).where(Reminder.next_fire_at.is_not(None))
                    return int(await session.scalar(stmt) or 0)

            await wait_for("synced", synced, args.n, args.timeout)
            results["reminders"] = await _measure(args, worker, server, temporal_before, app)
            results["reminders"].probes = await _probe(client, rows)
        finally:
            _stop(worker)
        worker = await _worker(args, server.address, url)
        try:
            say(f"minimal:   {args.n} workflows sleeping a day ...")
            temporal_before = _bytes(server.db_path)
            due = (datetime.now(UTC) + timedelta(days=1)).isoformat()
            run_id = uuid.uuid4().hex[:8]
            calls = [
                lambda i=i: client.start_workflow(
                    CeilingWorkflow.run, due, id=f"idle-{run_id}-{i}", task_queue=TASK_QUEUE
                )
                for i in range(args.n)
            ]
            await bounded(calls, 32)
            results["minimal"] = await _measure(args, worker, server, temporal_before, None)
        finally:
            _stop(worker)
    finally:
        await engine.dispose()
    report(args, results)


def report(args: argparse.Namespace, results: dict[str, Figures]) -> None:
    rem, low = results["reminders"], results["minimal"]
    say(
        f"\nN={args.n}  idle={args.idle:g}s  cores={os.cpu_count()}  "
        f"max_cached_workflows={args.max_cached}  (one worker process each)"
    )
    say(f"{'':34}{'reminders':>12}{'minimal':>12}{'ratio':>8}")
    for label, a, b in (
        ("worker RSS (MiB)", rem.rss_mib, low.rss_mib),
        ("worker CPU idle (% of a core)", rem.cpu_percent, low.cpu_percent),
        ("Temporal storage per workflow (B)", rem.temporal_bytes, low.temporal_bytes),
    ):
        ratio = f"{a / b:.1f}x" if b else "-"
        say(f"{label:34}{a:12.2f}{b:12.2f}{ratio:>8}")
    if rem.app_bytes is not None:
        say(f"{'app database per reminder (B)':34}{rem.app_bytes:12.0f}")
    if rem.probes:
        say(f"\none reminder at a time, ms (max_cached_workflows={args.max_cached}):")
        say(f"{'':34}{'median':>12}{'max':>12}{'ratio':>8}")
        base = median(rem.probes["query, cached"])
        for label in PROBE_LABELS:
            times = rem.probes[label]
            say(f"{label:34}{median(times):12.1f}{max(times):12.1f}{median(times) / base:7.1f}x")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.idle", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--idle", type=float, default=60.0, help="seconds of CPU measured")
    parser.add_argument("--database-url", help="default: a temporary SQLite file (measured)")
    parser.add_argument("--timeout", type=float, default=1800.0)
    add_max_cached(parser)
    args = parser.parse_args(argv)
    args.max_activities, args.max_workflow_tasks, args.channel = 16, 16, "email"
    args.lead, args.start_concurrency = 0.0, 32
    with tempfile.TemporaryDirectory(prefix="bench-idle-") as tmp:
        app_file = None if args.database_url else Path(tmp) / "app.db"
        url = args.database_url or f"sqlite+aiosqlite:///{app_file}"
        server = DevServer(Path(tmp) / "temporal.log", Path(tmp) / "temporal.db")
        try:
            migrations.upgrade(url)
            server.start()
            asyncio.run(run(args, server, url, app_file))
        finally:
            server.stop()
    return 0


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    os._exit(code)  # temporalio's native runtime can crash at interpreter exit
