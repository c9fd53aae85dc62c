"""What `bench.fire` prints: the burst against the ceiling, or a rate-limited burst."""

from __future__ import annotations

import argparse
import math
import os
import sys
from dataclasses import dataclass, field
from datetime import datetime

from bench.throttle import busiest_second
from core.settings import Settings


def say(text: str = "") -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


@dataclass
class Result:
    n: int
    started: float  # seconds before T when the last start returned (negative: after T)
    ready: float | None  # seconds before T when every workflow had written its row and slept
    done: float  # seconds from T until the last one was recorded
    lateness: list[float]  # seconds, each one's completion minus its due time
    limited: Limited | None = None  # with --rate: the deliveries as the limit let them out
    cpu: dict[str, float] = field(default_factory=dict)  # CPU seconds from T to done, by role

    @property
    def throughput(self) -> float:
        return self.n / self.done if self.done > 0 else math.inf

    def pct(self, q: float) -> float:
        return pct(self.lateness, q)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


@dataclass
class Limited:
    """The deliveries of a rate-limited run, as the deliveries table has them."""

    rows: int  # delivery rows (one per reminder when all went well)
    sent: list[datetime]  # sent_at of those the provider took
    slots: list[float]  # every slot the limiter granted, on its own clock (seconds)
    after_slot: list[float]  # seconds from each send's slot to its sent_at
    other: dict[str, int]  # rows in any other status, by status
    held: int  # slot too far for the in-worker wait: kept in send_slot_at, retried then
    max_attempts: int  # provider attempts; a rate-limit hold is not one
    first_from_t: float  # seconds from T to the first sent_at
    last_from_t: float

    @property
    def drain(self) -> float:
        return (max(self.sent) - min(self.sent)).total_seconds() if self.sent else 0.0

    @property
    def busiest(self) -> int:
        return busiest_second([t.timestamp() for t in self.sent])


def database_label(args: argparse.Namespace, url: str) -> str:
    label = url.split("://", 1)[0] + (" (temporary)" if args.database_url is None else "")
    temporal = "a SQLite file" if args.temporal_file else "memory"
    return f"{label}  temporal={temporal}"


def report_limited(
    args: argparse.Namespace, url: str, settings: Settings, reminders: Result
) -> None:
    limited = reminders.limited
    assert limited is not None
    rate, n = args.rate, args.n
    limiter = f"redis ({settings.REDIS_URL})" if settings.REDIS_URL else "local (in the worker)"
    say()
    say(
        f"N={n}  channel={args.channel}  rate={rate:g}/s  max_wait={args.max_wait:g}s  "
        f"limiter={limiter}  lead={args.lead:g}s  cores={os.cpu_count()}  "
        f"database={database_label(args, url)}  max_concurrent_activities={args.max_activities}  "
        f"max_concurrent_workflow_tasks={args.max_workflow_tasks}  "
        f"max_cached_workflows={args.max_cached}"
    )
    say(
        f"before T (negative: after): reminders all started {reminders.started:.1f}s, all "
        f"asleep with their rows synced {reminders.ready:.1f}s"
    )
    other = sum(limited.other.values())
    kinds = ", ".join(f"{count} {status}" for status, count in sorted(limited.other.items()))
    ideal = n / rate
    busiest = limited.busiest
    reserved = busiest_second(limited.slots)
    after = sorted(limited.after_slot)
    lines = [
        ("delivered", f"{len(limited.sent)} of {n} ({limited.rows} delivery rows)"),
        ("failed or other statuses", f"{other}" + (f"  ({kinds})" if kinds else "")),
        (
            "drain time, first to last (s)",
            f"{limited.drain:.2f}  (ideal N/R {ideal:.2f}, {limited.drain / ideal:.3f}x; "
            f"the least possible is (N-1)/R = {(n - 1) / rate:.2f})",
        ),
        (
            "T to first / last sent (s)",
            f"{limited.first_from_t:.2f} / {limited.last_from_t:.2f}",
        ),
        (
            "busiest 1 s, reserved slots",
            f"{reserved}  ({reserved / rate:.3f}x R; {len(limited.slots)} slots granted)",
        ),
        ("busiest 1 s of sent_at", f"{busiest}  ({busiest / rate:.3f}x R)"),
        (
            "sent_at after its slot (s)",
            f"p50 {pct(after, 0.50):.2f}  p99 {pct(after, 0.99):.2f}  max {after[-1]:.2f}"
            if after
            else "-",
        ),
        (
            "held past the in-worker wait",
            f"{limited.held}  (send_slot_at set: slot more than {args.max_wait:g}s away)",
        ),
        ("attempts", f"max {limited.max_attempts}"),
        (
            "lateness p50 / p99 / max (s)",
            f"{reminders.pct(0.50):.2f} / {reminders.pct(0.99):.2f} / "
            f"{max(reminders.lateness):.2f}",
        ),
    ]
    for name, value in lines:
        say(f"{name:30} {value}")


def report(args: argparse.Namespace, url: str, reminders: Result, ceiling: Result) -> None:
    database = database_label(args, url)
    say()
    channel = "" if args.channel == "email" else f"channel={args.channel}  "
    say(
        f"N={args.n}  {channel}lead={args.lead:g}s  cores={os.cpu_count()}  database={database}  "
        f"workers={args.workers}  max_concurrent_activities={args.max_activities}  "
        f"max_concurrent_workflow_tasks={args.max_workflow_tasks}  "
        f"max_cached_workflows={args.max_cached}"
    )
    say(
        f"before T (negative: after): reminders all started {reminders.started:.1f}s, all "
        f"asleep with their rows synced {reminders.ready:.1f}s; ceiling all started "
        f"{ceiling.started:.1f}s"
    )
    rows = [
        ("time from T to last done (s)", reminders.done, ceiling.done, "{:.2f}"),
        ("throughput (per s)", reminders.throughput, ceiling.throughput, "{:.0f}"),
        ("lateness p50 (s)", reminders.pct(0.50), ceiling.pct(0.50), "{:.2f}"),
        ("lateness p99 (s)", reminders.pct(0.99), ceiling.pct(0.99), "{:.2f}"),
        ("lateness max (s)", max(reminders.lateness), max(ceiling.lateness), "{:.2f}"),
        *cpu_rows(reminders.cpu, ceiling.cpu),
    ]
    say(f"{'':30} {'reminders':>10} {'ceiling':>10} {'ratio':>7}")
    for name, mine, best, fmt in rows:
        ratio = f"{mine / best:.1f}x" if best else "-"
        say(f"{name:30} {fmt.format(mine):>10} {fmt.format(best):>10} {ratio:>7}")
    if len(reminders.lateness) < args.n:
        say(f"NOT SENT: {args.n - len(reminders.lateness)} of {args.n} deliveries (see the table)")


def cpu_rows(mine: dict[str, float], best: dict[str, float]) -> list[tuple[str, float, float, str]]:
    """CPU seconds by role from T to done, their sum, and the drain that sum allows with
    every core busy: a drain near it is bound by the machine's cores."""
    rows = [(f"{role} CPU (s)", mine[role], best.get(role, 0.0), "{:.1f}") for role in mine]
    cores = os.cpu_count() or 1
    total, total_best = sum(mine.values()), sum(best.values())
    rows.append(("all CPU (s)", total, total_best, "{:.1f}"))
    rows.append((f"all CPU / {cores} cores (s)", total / cores, total_best / cores, "{:.2f}"))
    return rows
