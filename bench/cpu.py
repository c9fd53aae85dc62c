"""CPU time a run's processes spend between T and the last delivery (Linux /proc).

On two shared cores the drain ends when the CPU runs out: a burst that costs five times
the CPU of the minimal workflow drains about five times slower, whatever the slots and
pollers. These figures say which process spent it, beside the ceiling's in the same run.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass, field
from datetime import datetime

from core.types import utcnow

TICKS = os.sysconf("SC_CLK_TCK")
Reading = dict[str, dict[int, float]]  # role -> pid -> CPU seconds so far


def cpu_seconds(pid: int, children: bool = False) -> float | None:
    """User and system CPU seconds the process has used (its threads included; with
    `children`, also its children that it has waited for)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rpartition(")")[2].split()
    except OSError:  # gone, or not Linux
        return None
    # utime, stime (and cutime, cstime)
    return sum(int(fields[i]) for i in ((11, 12, 13, 14) if children else (11, 12))) / TICKS


def descendants(pid: int) -> list[int]:
    """The live processes below `pid` (children, their children, ...)."""
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    parent = int(stat.read().rpartition(")")[2].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            parents.setdefault(parent, []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        below = parents.get(todo.pop(), [])
        found += below
        todo += below
    return found


def pids_named(name: str) -> list[int]:
    """The processes whose command is `name`."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/comm") as comm:
                    if comm.read().strip() == name:
                        found.append(int(entry))
            except OSError:
                continue
    return found


@dataclass
class CpuClock:
    """The processes of a run, by role: "worker" (this one and any extra worker
    processes), "server" (the dev server); and by command name, "postgres" (a local
    PostgreSQL's server and backends, those that start during the run included).

    `record` reads them every `every` seconds for as long as it runs; `between` says what
    each role spent from one instant to another, to within one interval."""

    pids: dict[str, list[int]] = field(default_factory=dict)
    named: list[str] = field(default_factory=list)
    samples: list[tuple[datetime, Reading]] = field(default_factory=list)

    def read(self) -> Reading:
        roles = {**self.pids, **{name: pids_named(name) for name in self.named}}
        reading: Reading = {}
        for role, pids in roles.items():
            seconds = {pid: cpu_seconds(pid) for pid in pids}
            reading[role] = {pid: s for pid, s in seconds.items() if s is not None}
        return reading

    async def record(self, every: float = 0.5) -> None:
        while True:
            self.samples.append((utcnow(), self.read()))
            await asyncio.sleep(every)

    def between(self, start: datetime, end: datetime) -> dict[str, float]:
        """CPU seconds per role from the last reading at or before `start` to the first at
        or after `end` (a process that ended meanwhile is missed)."""
        if not self.samples:
            return {}
        before = [reading for at, reading in self.samples if at <= start]
        after = [reading for at, reading in self.samples if at >= end]
        first = before[-1] if before else self.samples[0][1]
        last = after[0] if after else self.samples[-1][1]
        return {
            role: sum(s - first.get(role, {}).get(pid, 0.0) for pid, s in by_pid.items())
            for role, by_pid in last.items()
        }


def by_command(root: int, roles: dict[str, str]) -> dict[str, list[int]]:
    """The processes below `root` whose command line contains each role's text."""
    found: dict[str, list[int]] = {role: [] for role in roles}
    for pid in descendants(root):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
                command = cmdline.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        for role, text in roles.items():
            if text in command:
                found[role].append(pid)
                break
    return found
