"""`bench.load`'s triggers: after the load, wait until each one's email is delivered, and say
how long each took, from the API's own records.

Each trigger is kept with the moment its `202` came back (the bench's clock, UTC). Its
delivery is the one with its occurrence key in `GET /reminders/{id}/deliveries`, whose
`sent_at` is the worker's clock: both run on this machine. The lag of a trigger is
`sent_at` minus its `202`; "after the load" is the last `sent_at` minus the moment the
last virtual user stopped, so the time the bench itself takes to check does not count.
"""

from __future__ import annotations

import asyncio
import math
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

import httpx

DELIVERED = {"sent", "delivered"}
CHECKS_AT_ONCE = 10


@dataclass(frozen=True)
class Trigger:
    reminder_id: str
    occurrence_key: str
    accepted_at: datetime  # when the API answered 202


class HasTriggers(Protocol):
    index: int
    http: httpx.AsyncClient
    triggers: list[Trigger]


@dataclass
class Drained:
    delivered: int
    triggered: int
    waited: float  # seconds the bench checked
    lags: list[float]  # seconds from each delivered trigger's 202 to its sent_at
    last_after_end: float | None  # the last sent_at minus the end of the load, seconds

    def lines(self) -> list[str]:
        lines = [f"triggers delivered: {self.delivered} of {self.triggered}"]
        if self.lags:
            lags = sorted(self.lags)
            lines.append(
                f"  202 to sent_at (s): p50 {_pct(lags, 50):.2f}  p99 {_pct(lags, 99):.2f}  "
                f"max {lags[-1]:.2f}"
            )
        if self.last_after_end is not None:
            lines.append(
                f"  the last was sent {self.last_after_end:.2f}s after the load stopped "
                f"(checked for {self.waited:.1f}s)"
            )
        return lines


def _pct(ordered: Sequence[float], p: float) -> float:
    return ordered[min(len(ordered) - 1, max(0, math.ceil(p / 100 * len(ordered)) - 1))]


async def sent_at_by_key(http: httpx.AsyncClient, rid: str) -> dict[str, datetime]:
    sent: dict[str, datetime] = {}
    offset = 0
    while True:
        page = await http.get(
            f"/reminders/{rid}/deliveries", params={"limit": 200, "offset": offset}
        )
        page.raise_for_status()
        body = page.json()
        for item in body["items"]:
            if item["status"] in DELIVERED and item.get("sent_at"):
                at = datetime.fromisoformat(item["sent_at"])
                sent[item["occurrence_key"]] = at if at.tzinfo else at.replace(tzinfo=UTC)
        offset += len(body["items"])
        if not body["items"] or offset >= body["total"]:
            return sent


async def drain(users: Sequence[HasTriggers], timeout: float, load_ended: datetime) -> Drained:
    """Wait until every trigger's email is delivered, up to `timeout` seconds."""
    by_reminder: dict[tuple[int, str], list[Trigger]] = {}
    for user in users:
        for t in user.triggers:
            by_reminder.setdefault((user.index, t.reminder_id), []).append(t)
    by_user = {u.index: u for u in users}
    wanted = sum(len(ts) for ts in by_reminder.values())
    found: dict[Trigger, datetime] = {}
    gate = asyncio.Semaphore(CHECKS_AT_ONCE)
    started = time.monotonic()

    async def check(index: int, rid: str) -> None:
        async with gate:
            try:
                sent = await sent_at_by_key(by_user[index].http, rid)
            except Exception as exc:  # try again on the next round
                sys.stdout.write(f"  deliveries of {rid}: {exc!r}\n")
                return
        for trigger in by_reminder[(index, rid)]:
            if trigger.occurrence_key in sent:
                found[trigger] = sent[trigger.occurrence_key]

    while len(found) < wanted and time.monotonic() - started < timeout:
        await asyncio.gather(
            *(
                check(i, rid)
                for (i, rid), ts in by_reminder.items()
                if any(t not in found for t in ts)
            )
        )
        if len(found) < wanted:
            await asyncio.sleep(1.0)
    lags = [(sent - t.accepted_at).total_seconds() for t, sent in found.items()]
    last = max(found.values(), default=None)
    return Drained(
        delivered=len(found),
        triggered=wanted,
        waited=time.monotonic() - started,
        lags=lags,
        last_after_end=(last - load_ended).total_seconds() if last else None,
    )
