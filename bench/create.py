"""How fast the API creates reminders, against raw `start_workflow` on the same server.

    .venv/bin/python -m bench.create [--n 300] [--concurrency 10] [--rounds 2]
                                     [--database-url URL] [--redis-url URL] [--api-workers N]

Starts `reminders dev` (as bench.load does: free ports, temporary data dir), registers one
business with one client, then alternates, `--rounds` times:

- **raw**: `--n` calls of `reminder_client.start` (what the API calls: the same
  workflow, input and search attributes, on the same task queue, so the worker does the
  same first task), `--concurrency` at a time, straight to the dev server's Temporal;
- **api**: `--n` `POST /reminders` (a `once` email reminder 30 days ahead), `--concurrency`
  at a time, each an authenticated request that validates, inserts the row, starts the
  workflow and commits.

Prints each phase's creates per second and the ratio api / raw of each round (issue 17's
target: at least 0.8). Then checks the create's promise for every reminder the API
accepted: its row is listed and its workflow exists (describe). Exits 1 on any refused
create or broken promise. Never part of `make test`; see bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Awaitable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from temporalio.client import Client

from bench.cpu import by_command, cpu_seconds, pids_named
from bench.load import setup_user
from bench.stack import HOST, DevStack, machine, say
from core.settings import Settings
from core.temporal import placement
from workflows import reminder_client
from workflows.contracts import workflow_id_for


@dataclass
class Row:
    """What reminder_client.start reads off a reminder row."""

    business_id: uuid.UUID
    client_id: str
    id: uuid.UUID = field(default_factory=uuid.uuid4)
    type: str = "payment"
    timezone: str = "UTC"
    status: str = "scheduled"
    last_fired_at: datetime | None = None
    occurrences_sent: int = 0
    schedule: dict[str, Any] = field(default_factory=dict)
    next_fire_at: datetime | None = None

    @property
    def client_ids(self) -> list[str]:
        return [self.client_id]

    @property
    def workflow_id(self) -> str:
        return workflow_id_for(str(self.id))


def later() -> datetime:
    return (datetime.now(UTC) + timedelta(days=30)).replace(microsecond=0)


def body(client_id: str, n: int) -> dict[str, Any]:
    return {
        "title": f"Create {n}",
        "type": "payment",
        "client_ids": [client_id],
        "channels": ["email"],
        "subject": "Invoice overdue",
        "body": "Hi {{ client.name }}, invoice " + str(n) + " is overdue.",
        "schedule": {"kind": "once", "at": later().isoformat()},
    }


async def in_parallel(n: int, callers: int, one: Any) -> float:
    """`callers` tasks, each calling one(caller, i) in turn, n calls in all; the wall time
    in seconds."""

    async def caller(c: int) -> None:
        for i in range(c, n, callers):
            await one(c, i)

    started = time.perf_counter()
    await asyncio.gather(*(caller(c) for c in range(callers)))
    return time.perf_counter() - started


async def raw_phase(temporal: Client, settings: Settings, users: list[Any], args: Any) -> float:
    async def one(c: int, i: int) -> None:
        at = later()
        row = Row(users[c].business_id, users[c].client_ids[0])
        row.schedule, row.next_fire_at = {"kind": "once", "at": at.isoformat()}, at
        await reminder_client.start(temporal, placement(settings), row, cursor=datetime.now(UTC))

    return await in_parallel(args.n, args.concurrency, one)


async def api_phase(users: list[Any], args: Any, made: list[str]) -> float:
    async def one(c: int, i: int) -> None:
        user = users[c]
        answer = await user.http.post("/reminders", json=body(user.client_ids[0], i))
        if answer.status_code != 201:
            raise SystemExit(f"create refused: {answer.status_code} {answer.text[:400]}")
        made.append(answer.json()["id"])

    return await in_parallel(args.n, args.concurrency, one)


ROLES = {"api": "cli api", "worker": "cli worker", "temporal": "server start-dev"}


def cpu_now(stack: DevStack) -> Counter[str]:
    """CPU seconds so far of this process (the callers), the stack's API, worker and
    Temporal server, and every local PostgreSQL process."""
    roles = {**by_command(stack.proc.pid, ROLES), "bench": [os.getpid()]}
    roles["postgres"] = pids_named("postgres")
    return Counter(
        {role: sum(cpu_seconds(pid) or 0.0 for pid in pids) for role, pids in roles.items()}
    )


async def measured(total: Counter[str], stack: DevStack, phase: Awaitable[float]) -> float:
    """Run the phase, adding the CPU each process spent in it to `total`."""
    before = cpu_now(stack)
    seconds = await phase
    total.update(cpu_now(stack) - before)
    return seconds


def say_cpu(cpu: dict[str, Counter[str]], creates: int) -> None:
    """CPU milliseconds per create, per process, in each phase."""
    roles = [role for role in ("bench", *ROLES, "postgres") if cpu["raw"][role] or cpu["api"][role]]
    say("CPU ms per create   " + "".join(f"{role:>10}" for role in roles) + f"{'all':>10}")
    for phase, spent in cpu.items():
        cells = "".join(f"{1000 * spent[role] / creates:>10.1f}" for role in roles)
        say(f"  {phase:<18}{cells}{1000 * sum(spent.values()) / creates:>10.1f}")


async def promise_kept(users: list[Any], temporal: Client, made: list[str]) -> int:
    """Accepted reminders without their row or their workflow."""
    listed = 0
    for user in users:
        listed += (await user.http.get("/reminders", params={"limit": 1})).json()["total"]
    missing = max(0, len(made) - listed)
    for rid in made:
        try:
            await temporal.get_workflow_handle(workflow_id_for(rid)).describe()
        except Exception:
            missing += 1
    return missing


async def run(args: argparse.Namespace) -> int:
    say(f"machine: {machine()}")
    workdir = Path(tempfile.mkdtemp(prefix="bench-create-"))
    extra = {"API_RATE_LIMIT": "100000/minute", "REGISTRATIONS_PER_IP": "100000/hour"}
    for name, value in (
        ("DATABASE_URL", args.database_url),
        ("REDIS_URL", args.redis_url),
        ("API_WORKERS", args.api_workers and str(args.api_workers)),
    ):
        if value:
            extra[name] = value
    stack = DevStack(workdir, extra)
    users: list[Any] = []
    try:
        say(f"starting `reminders dev` (database: {args.database_url or 'SQLite'})")
        await stack.wait_ready()
        run_id = uuid.uuid4().hex[:8]
        for c in range(args.concurrency):
            users.append(await setup_user(stack.url, c, run_id, 60.0))
            users[-1].business_id = uuid.UUID((await users[-1].http.get("/business")).json()["id"])
        temporal = await Client.connect(f"{HOST}:{stack.temporal_port}")
        settings = Settings(_env_file=None)  # type: ignore[call-arg]
        made: list[str] = []
        say(
            f"{args.n} creates per phase by {args.concurrency} callers at once (each its own "
            f"business: one business may render only a few texts at a time), {args.rounds} rounds"
        )
        say(f"{'round':<7}{'raw /s':>10}{'api /s':>10}{'api / raw':>11}")
        ratios, cpu = [], {"raw": Counter[str](), "api": Counter[str]()}
        for round_ in range(1, args.rounds + 1):
            raw = args.n / await measured(
                cpu["raw"], stack, raw_phase(temporal, settings, users, args)
            )
            api = args.n / await measured(cpu["api"], stack, api_phase(users, args, made))
            ratios.append(api / raw)
            say(f"{round_:<7}{raw:>10.1f}{api:>10.1f}{api / raw:>10.2f}x")
        say(f"api / raw over the rounds: {sum(ratios) / len(ratios):.2f}x (target >= 0.8x)")
        say_cpu(cpu, args.n * args.rounds)
        missing = await promise_kept(users, temporal, made)
        say(f"accepted by the API: {len(made)}; without their row or workflow: {missing}")
        return 1 if missing else 0
    finally:
        for user in users:
            await user.http.aclose()
        stack.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.create", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--n", type=int, default=300, help="creates per phase")
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--database-url")
    parser.add_argument("--redis-url")
    parser.add_argument("--api-workers", type=int)
    args = parser.parse_args(argv)
    if min(args.n, args.concurrency, args.rounds) < 1:
        parser.error("--n, --concurrency and --rounds must be positive")
    code = asyncio.run(run(args))
    sys.stdout.flush()
    os._exit(code)  # temporalio's native client can crash at interpreter exit


if __name__ == "__main__":
    main()
