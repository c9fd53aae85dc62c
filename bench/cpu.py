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


def cpu_seconds(pid: int) -> float:
    """User and system CPU seconds the process has used (its threads included)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rpartition(")")[2].split()
    except OSError:  # gone, or not Linux
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime


@dataclass
class CpuClock:
    """The processes of a run, by role: "worker" (this one and any extra worker processes),
    "server" (the dev server)."""

    pids: dict[str, list[int]] = field(default_factory=dict)

    def read(self) -> dict[str, float]:
        return {role: sum(cpu_seconds(pid) for pid in pids) for role, pids in self.pids.items()}

    def since(self, start: dict[str, float]) -> dict[str, float]:
        now = self.read()
        return {role: now[role] - start.get(role, 0.0) for role in now}

    async def read_at(self, at: datetime) -> dict[str, float]:
        """The reading at `at` (now, if it has passed)."""
        await asyncio.sleep(max(0.0, (at - utcnow()).total_seconds()))
        return self.read()
