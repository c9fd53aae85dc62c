"""Deadlines that chase, and series of them: the `deadline_series` shape and the
`chase_every` / `chase_until` fields a `deadline` may carry too. Pure.

A deadline series is a recurring rule of due times (`rrule` and `start`, with `until`,
`count` and `exdates` as a recurring schedule has them). Each due time is a *period*:
messages go out at each offset from it and then, when `chase_every` is given, every
`chase_every` after it for as long as `chase_until` after it, e.g. quarterly VAT
documents due on the 7th: `-P7D`, `-P1D`, `PT0S`, then every 3 days for 30 days. The
workflow stops sending to a client once that client is done for the period; the next
period starts over.

Periods may overlap (a monthly series chased for 40 days). Two messages of different
periods at one instant are one occurrence, of the earlier period. `business_days` moves
every message time, as on a deadline.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from workflows.business_days import BusinessDays, moved_to_business_day
from workflows.recurrence import Recurring
from workflows.schedule_fields import (
    LAST_YEAR,
    MAX_OFFSETS,
    Offset,
    ScheduleError,
    parse_offset,
)

CHASE_FIELDS = ("chase_every", "chase_until")
# Chase messages per period, at most (as many as offsets may be).
MAX_CHASES = MAX_OFFSETS
SMALLEST_CHASE = timedelta(hours=1)
# Further than any business-day move (14 days) and DST change reach: bounds of how far
# from its due time a period's messages can lie, beyond its offsets and chase.
_MARGIN = timedelta(days=17)


def _times(offset: Offset, k: int) -> Offset:
    return Offset(
        text=offset.text, months=offset.months * k, days=offset.days * k, elapsed=offset.elapsed * k
    )


def _reach(offset: Offset) -> timedelta:
    """At most how far `offset` moves a time, either way."""
    return timedelta(days=31 * abs(offset.months) + abs(offset.days)) + abs(offset.elapsed)


@dataclass(frozen=True)
class Chase:
    every: Offset
    until: Offset

    def normalised(self) -> dict[str, Any]:
        return {"chase_every": self.every.text, "chase_until": self.until.text}

    def times(self, due: datetime, zone: ZoneInfo) -> list[datetime]:
        """Every `every` after `due`, up to `until` after it."""
        last = self.until.apply(due, zone)
        found = []
        for k in range(1, MAX_CHASES + 1):
            at = _times(self.every, k).apply(due, zone)
            if at > last:
                break
            found.append(at)
        return found


def parse_chase(raw: dict[str, Any]) -> Chase | None:
    given = [name for name in CHASE_FIELDS if raw.get(name) is not None]
    if not given:
        return None
    if len(given) == 1:
        missing = ({*CHASE_FIELDS} - {*given}).pop()
        raise ScheduleError(f"schedule.{missing}: required with schedule.{given[0]}")
    every = parse_offset(raw["chase_every"], "schedule.chase_every")
    until = parse_offset(raw["chase_until"], "schedule.chase_until")
    for name, offset in (("chase_every", every), ("chase_until", until)):
        if offset.months < 0 or offset.days < 0 or offset.elapsed < timedelta(0):
            raise ScheduleError(f"schedule.{name}: must be a positive duration, such as 'P3D'")
    if _reach(every) < SMALLEST_CHASE and not (every.months or every.days):
        raise ScheduleError("schedule.chase_every: must be at least an hour ('PT1H')")
    if _reach(until) > timedelta(days=366 * 2):
        raise ScheduleError("schedule.chase_until: at most two years ('P2Y')")
    # How many chases fit, counted on a plain calendar (months of 28 days: the most).
    every_days = 28 * every.months + every.days + every.elapsed / timedelta(days=1)
    until_days = 31 * until.months + until.days + until.elapsed / timedelta(days=1)
    if until_days / every_days > MAX_CHASES:
        raise ScheduleError(
            f"schedule.chase_until: allows more than {MAX_CHASES} chases of chase_every"
        )
    if until_days < every_days:
        raise ScheduleError("schedule.chase_until: must be at least chase_every")
    return Chase(every, until)


def period_times(
    due: datetime,
    offsets: tuple[Offset, ...],
    chase: Chase | None,
    business_days: BusinessDays | None,
    zone: ZoneInfo,
) -> list[datetime]:
    """One period's message times, ascending and distinct."""
    every = {offset.apply(due, zone) for offset in offsets}
    if chase is not None:
        every.update(chase.times(due, zone))
    if business_days is not None:
        every = {moved_to_business_day(at, business_days, zone) for at in every}
    return sorted(at for at in every if at.year < LAST_YEAR)


@dataclass(frozen=True)
class DeadlineSeries:
    rule: Recurring  # the due times; its own business_days stay None
    offsets: tuple[Offset, ...]
    chase: Chase | None = None
    business_days: BusinessDays | None = None

    def normalised(self) -> dict[str, Any]:
        normal = {**self.rule.normalised(), "kind": "deadline_series"}
        normal["offsets"] = [offset.text for offset in self.offsets]
        if self.chase is not None:
            normal |= self.chase.normalised()
        if self.business_days is not None:
            normal["business_days"] = self.business_days.normalised()
        return normal

    def with_business_days(self, days: BusinessDays) -> DeadlineSeries:
        return replace(self, business_days=days)

    def _bounds(self) -> tuple[timedelta, timedelta]:
        """How far before and after its due time a period's messages can lie, at most."""
        reaches = [_reach(offset) for offset in self.offsets]
        if self.chase is not None:
            reaches.append(_reach(self.chase.until))
        widest = max(reaches)
        return widest + _MARGIN, widest + _MARGIN

    def timed(self, zone: ZoneInfo, after: datetime | None) -> Iterator[tuple[datetime, datetime]]:
        """(message time, its period's due time) after `after`, ascending, each instant
        once (of the earliest period when periods share one)."""
        before, beyond = self._bounds()
        first_due = None if after is None else after - beyond
        pending: list[tuple[datetime, datetime]] = []
        last: datetime | None = None
        for due in self.rule.instants(zone, first_due):
            # Every message of a later period lies after due - before: earlier ones are final.
            while pending and pending[0][0] < due - before:
                at, period = heapq.heappop(pending)
                if (after is None or at > after) and at != last:
                    last = at
                    yield at, period
            for at in period_times(due, self.offsets, self.chase, self.business_days, zone):
                heapq.heappush(pending, (at, due))
        while pending:
            at, period = heapq.heappop(pending)
            if (after is None or at > after) and at != last:
                last = at
                yield at, period

    def instants(self, zone: ZoneInfo, after: datetime | None) -> Iterator[datetime]:
        return (at for at, _ in self.timed(zone, after))
