"""Many authenticated clients using the API at once: throughput, latency, errors.

    .venv/bin/python -m bench.load [--clients 20] [--duration 60] [--url URL]
                                   [--mix create=2,list=4,get=3,trigger=1 | firm]
                                   [--database-url URL] [--redis-url URL]
                                   [--api-workers N] [--think SECONDS]

Without --url it starts its own stack with `reminders dev` (Temporal dev server, one
worker, the API) on free ports, with its data in a temporary directory, and stops it at
the end, Ctrl-C included. That stack gets API_RATE_LIMIT=100000/minute (--rate-limit), so
the run measures the service rather than the per-user limiter. --database-url and
--redis-url are handed to it as DATABASE_URL and REDIS_URL (else SQLite under the data dir
and in-process throttles).

Each virtual user registers its own business (POST /auth/register, which answers the
tokens), adds two clients, then for --duration seconds loops over a weighted mix, with
no think time (or --think seconds on average between requests, as a person reads): create a `once` email reminder 30 days ahead, list reminders, get one
(`live` tells whether the state is the workflow's), trigger one (202); the `firm` mix
adds the dashboard summary and the notifications list; the `reads` row sums list, get,
dashboard and notifications, `writes` create and trigger. Each user has its own
httpx.AsyncClient.
Afterwards it waits until every trigger has a delivered email (GET .../deliveries), up to
--drain-timeout, and reports each trigger's 202 to its `sent_at` and how long after the load
the last one left (bench/triggers.py).

Reports requests, req/s, p50/p90/p99/max latency and errors per operation and overall,
CPU used by each process of the stack, and the machine. Exits 1 on any error (non-2xx,
exception) or undelivered trigger. Never part of `make test`; see bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import random
import shutil
import signal
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from bench.cpu import cpu_seconds, descendants
from bench.stack import DevStack, machine, say
from bench.triggers import Trigger, drain

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "Correct-Horse-7"
OPS = ("create", "list", "get", "trigger", "dashboard", "notifications")
READS = ("list", "get", "dashboard", "notifications")
WRITES = ("create", "trigger")
DEFAULT_MIX = "create=2,list=4,get=3,trigger=1"
# What a firm's staff do all day (issue 17): mostly reading, some creating and sending.
MIXES = {"firm": "create=2,list=4,get=4,trigger=1,dashboard=2,notifications=2"}
SHOWN_ERRORS = 5


# -- CPU per process ---------------------------------------------------------------------------


def machine_busy() -> tuple[float, float]:
    """(busy, total) jiffies of the whole machine, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return sum(values) - idle, sum(values)


class CpuMeter:
    """CPU % of each named process between start() and stop() (100 % = one core)."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.pids = {**pids, "load generator": os.getpid()}
        self.before: dict[str, float | None] = {}
        self.machine_before = (0.0, 0.0)
        self.started = 0.0
        self.result: dict[str, float] = {}
        self.machine_pct = 0.0

    def _read(self, name: str, pid: int) -> float | None:
        """The process (and, for the API, its live worker processes)."""
        below = descendants(pid) if name == "api" else []
        values = [cpu_seconds(p, children=True) for p in [pid, *below]]
        return sum(v for v in values if v is not None) if values[0] is not None else None

    def start(self) -> None:
        self.before = {name: self._read(name, pid) for name, pid in self.pids.items()}
        self.machine_before = machine_busy()
        self.started = time.monotonic()

    def stop(self) -> None:
        elapsed = time.monotonic() - self.started
        for name, pid in self.pids.items():
            before, after = self.before.get(name), self._read(name, pid)
            if before is not None and after is not None and elapsed > 0:
                self.result[name] = 100 * (after - before) / elapsed
        busy, total = machine_busy()
        if total > self.machine_before[1]:
            cores = os.cpu_count() or 1
            share = (busy - self.machine_before[0]) / (total - self.machine_before[1])
            self.machine_pct = 100 * cores * share


# -- measuring ---------------------------------------------------------------------------------


def pct(values: list[float], q: float) -> float:
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


@dataclass
class Stats:
    latencies: dict[str, list[float]] = field(default_factory=lambda: {op: [] for op in OPS})
    errors: dict[str, int] = field(default_factory=lambda: dict.fromkeys(OPS, 0))
    samples: list[str] = field(default_factory=list)
    statuses: dict[str, int] = field(default_factory=dict)  # non-2xx and exceptions, by kind
    not_live: int = 0  # GETs that said live: false

    def error(self, op: str, what: str, detail: str) -> None:
        self.errors[op] += 1
        self.statuses[what] = self.statuses.get(what, 0) + 1
        if len(self.samples) < SHOWN_ERRORS:
            self.samples.append(f"{op}: {what}: {detail[:400]}")


@dataclass
class User:
    index: int
    http: httpx.AsyncClient
    client_ids: list[str] = field(default_factory=list)
    reminders: list[str] = field(default_factory=list)
    triggers: list[Trigger] = field(default_factory=list)


def reminder_body(user: User, n: int) -> dict[str, Any]:
    at = (datetime.now(UTC) + timedelta(days=30)).replace(microsecond=0)
    return {
        "title": f"Load {user.index}-{n}",
        "type": "payment",
        "client_ids": [random.choice(user.client_ids)],
        "channels": ["email"],
        "subject": "Invoice overdue",
        "body": "Hi {{ client.name }}, invoice " + str(n) + " is overdue.",
        "schedule": {"kind": "once", "at": at.isoformat()},
    }


async def setup_user(base: str, index: int, run_id: str, timeout: float) -> User:
    http = httpx.AsyncClient(base_url=f"{base}/api/v1", timeout=timeout)
    registered = await http.post(
        "/auth/register",
        json={
            "email": f"load-{run_id}-{index}@example.com",
            "password": PASSWORD,
            "full_name": f"Load User {index}",
            "business_name": f"Load Business {run_id} {index}",
            "timezone": "UTC",
        },
    )
    if registered.status_code != 201:
        raise SystemExit(f"register {index}: {registered.status_code} {registered.text[:400]}")
    http.headers["Authorization"] = f"Bearer {registered.json()['access_token']}"
    user = User(index=index, http=http)
    for c in range(2):
        created = await http.post(
            "/clients",
            json={
                "name": f"Client {index}-{c}",
                "email": f"client-{run_id}-{index}-{c}@example.com",
                "timezone": "UTC",
                "preferred_channels": ["email"],
            },
        )
        if created.status_code != 201:
            raise SystemExit(f"client {index}-{c}: {created.status_code} {created.text[:400]}")
        user.client_ids.append(created.json()["id"])
    return user


async def timed(stats: Stats, op: str, call: Any, expect: int) -> httpx.Response | None:
    started = time.perf_counter()
    try:
        response: httpx.Response = await call
    except Exception as exc:
        stats.latencies[op].append(1000 * (time.perf_counter() - started))
        stats.error(op, type(exc).__name__, repr(exc))
        return None
    stats.latencies[op].append(1000 * (time.perf_counter() - started))
    if response.status_code != expect:
        stats.error(op, f"HTTP {response.status_code}", response.text)
        return None
    return response


async def virtual_user(
    user: User, stats: Stats, mix: dict[str, int], deadline: float, think: float = 0.0
) -> None:
    rng = random.Random(user.index)
    ops, weights = list(mix), list(mix.values())
    made = 0
    while time.monotonic() < deadline:
        if think > 0:  # a person reading the last answer before the next click
            await asyncio.sleep(min(rng.expovariate(1 / think), deadline - time.monotonic()))
            if time.monotonic() >= deadline:
                break
        op = rng.choices(ops, weights)[0]
        if op in ("get", "trigger") and not user.reminders:
            op = "create"
        http = user.http
        if op == "create":
            made += 1
            answer = await timed(
                stats, op, http.post("/reminders", json=reminder_body(user, made)), 201
            )
            if answer is not None:
                user.reminders.append(answer.json()["id"])
        elif op == "list":
            await timed(stats, op, http.get("/reminders", params={"limit": 50}), 200)
        elif op == "dashboard":
            await timed(stats, op, http.get("/dashboard/summary"), 200)
        elif op == "notifications":
            await timed(stats, op, http.get("/notifications", params={"limit": 50}), 200)
        elif op == "get":
            rid = rng.choice(user.reminders)
            answer = await timed(stats, op, http.get(f"/reminders/{rid}"), 200)
            if answer is not None and not answer.json().get("live"):
                stats.not_live += 1
        else:
            rid = rng.choice(user.reminders)
            answer = await timed(stats, op, http.post(f"/reminders/{rid}/trigger"), 202)
            if answer is not None:
                key = answer.json()["occurrence_key"]
                user.triggers.append(Trigger(rid, key, datetime.now(UTC)))


# -- the run -----------------------------------------------------------------------------------


def parse_mix(text: str) -> dict[str, int]:
    text = MIXES.get(text, text)
    mix: dict[str, int] = {}
    for part in text.split(","):
        name, _, weight = part.partition("=")
        if name.strip() not in OPS or not weight.strip().isdigit():
            raise SystemExit(f"--mix: {part!r} is not one of {', '.join(OPS)} = integer weight")
        mix[name.strip()] = int(weight)
    if not any(mix.values()):
        raise SystemExit("--mix: every weight is zero")
    return mix


def report(stats: Stats, elapsed: float) -> int:
    header = f"{'operation':<14}{'requests':>9}{'req/s':>9}{'p50':>9}{'p90':>9}{'p99':>9}"
    say(header + f"{'max':>9}{'errors':>8}   (latency in ms)")
    groups = {"reads": READS, "writes": WRITES, "all": OPS}
    for op in [*OPS, *groups]:
        members = groups.get(op, (op,))
        values = [v for name in members for v in stats.latencies[name]]
        errs = sum(stats.errors[name] for name in members)
        if not values:
            continue
        say(
            f"{op:<14}{len(values):>9}{len(values) / elapsed:>9.1f}"
            f"{pct(values, 0.5):>9.1f}{pct(values, 0.9):>9.1f}{pct(values, 0.99):>9.1f}"
            f"{max(values):>9.1f}{errs:>8}"
        )
    return sum(stats.errors.values())


async def run(args: argparse.Namespace) -> int:
    mix = parse_mix(args.mix)
    say(f"machine: {machine()}")
    stack: DevStack | None = None
    workdir: Path | None = None
    users: list[User] = []
    try:
        if args.url:
            base = args.url.rstrip("/")
            say(f"target: {base} (not started here: its API_RATE_LIMIT applies, a 429 counts)")
        else:
            workdir = Path(tempfile.mkdtemp(prefix="bench-load-"))
            # Every virtual user registers from this one address.
            extra = {"API_RATE_LIMIT": args.rate_limit, "REGISTRATIONS_PER_IP": "100000/hour"}
            if args.log_level:
                extra["LOG_LEVEL"] = args.log_level
            if args.database_url:
                extra["DATABASE_URL"] = args.database_url
            if args.redis_url:
                extra["REDIS_URL"] = args.redis_url
            if args.api_workers:
                extra["API_WORKERS"] = str(args.api_workers)
            stack = DevStack(workdir, extra)
            database = args.database_url or "SQLite in the data dir"
            say(
                f"starting `reminders dev` on {stack.url} (data in {stack.data_dir}); "
                f"API_RATE_LIMIT={args.rate_limit} so the per-user limiter stays out of the "
                f"way; database: {database}; Redis: {args.redis_url or 'none (in-process)'}"
            )
            await stack.wait_ready()
            base = stack.url
            say(f"stack ready: {stack.pids()}")

        run_id = uuid.uuid4().hex[:8]
        say(f"registering {args.clients} users (each its own business and 2 clients)...")
        gate = asyncio.Semaphore(8)

        async def one(i: int) -> User:
            async with gate:
                return await setup_user(base, i, run_id, args.request_timeout)

        users = list(await asyncio.gather(*(one(i) for i in range(args.clients))))

        mix_text = ", ".join(f"{op} {w}" for op, w in mix.items())
        pause = f", think time {args.think:g}s on average" if args.think else ", no think time"
        say(
            f"running {args.clients} virtual users for {args.duration:g}s{pause}, mix {mix_text}..."
        )
        stats = Stats()
        meter = CpuMeter({**stack.pids(), "dev supervisor": stack.proc.pid} if stack else {})
        meter.start()
        started = time.monotonic()
        deadline = started + args.duration
        await asyncio.gather(*(virtual_user(u, stats, mix, deadline, args.think) for u in users))
        elapsed = time.monotonic() - started
        load_ended = datetime.now(UTC)
        meter.stop()

        say()
        say(f"{args.clients} clients, {elapsed:.1f}s (the last requests end after the deadline)")
        errors = report(stats, elapsed)
        gets = len(stats.latencies["get"])
        say(
            f"GETs answered with live: false (state not known to be the workflow's): "
            f"{stats.not_live} of {gets}"
        )
        if meter.result:
            cpu = ", ".join(f"{name} {value:.0f}%" for name, value in meter.result.items())
            others = meter.machine_pct - sum(meter.result.values())
            say(f"CPU during the run (100% = one core): {cpu}")
            say(f"  whole machine {meter.machine_pct:.0f}%, of which other processes {others:.0f}%")
        if errors:
            say(f"errors by kind: {stats.statuses}")
            for sample in stats.samples:
                say(f"  {sample}")
            if stack:
                say("stack output with error, warning or locked (last lines):")
                for line in stack.suspicious():
                    say(f"  {line}")

        drained = await drain(users, args.drain_timeout, load_ended)
        for line in drained.lines():
            say(line)
        if stack:
            say(f"stack log: {stack.log_path}" + (" (kept)" if args.keep else ""))
        return 1 if errors or drained.delivered < drained.triggered else 0
    finally:
        for user in users:
            await user.http.aclose()
        if stack:
            stack.stop()
        if workdir and not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.load", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--clients", type=int, default=20, help="concurrent virtual users")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of load")
    parser.add_argument("--url", help="a running API (base URL, without /api/v1)")
    parser.add_argument(
        "--mix",
        default=DEFAULT_MIX,
        help=f"weights (default {DEFAULT_MIX}) or a name: "
        + ", ".join(f"{name} = {mix}" for name, mix in MIXES.items()),
    )
    parser.add_argument(
        "--think",
        type=float,
        default=0.0,
        help="mean seconds a user waits between requests (exponential; default 0: none)",
    )
    parser.add_argument("--database-url", help="DATABASE_URL for the stack started here")
    parser.add_argument("--redis-url", help="REDIS_URL for the stack started here")
    parser.add_argument(
        "--api-workers", type=int, help="API processes for the stack started here (API_WORKERS)"
    )
    parser.add_argument("--rate-limit", default="100000/minute", help="its API_RATE_LIMIT")
    parser.add_argument("--drain-timeout", type=float, default=120.0)
    parser.add_argument("--request-timeout", type=float, default=30.0)
    parser.add_argument("--log-level", help="LOG_LEVEL for the stack (default: its own)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary data dir")
    args = parser.parse_args(argv)
    if args.clients < 1 or args.duration <= 0:
        parser.error("--clients and --duration must be positive")

    def stop(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    try:
        return asyncio.run(run(args))
    except KeyboardInterrupt:
        say("interrupted")
        return 130


if __name__ == "__main__":
    sys.exit(main())
