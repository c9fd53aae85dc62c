"""When a reminder fires: the pure schedule maths shared by the API and ReminderWorkflow.

No I/O, no clock, no Temporal: the same inputs always give the same answer, so this is safe
inside workflow code (replay) and in request handlers. The shapes are API.md's: `once`,
`recurring` (an RFC 5545 RRULE) and `deadline` (ISO 8601 durations from a due time). An
occurrence's key is its UTC instant, so it never changes when the rule is evaluated again.

Local time and DST
------------------
A rule is read in the reminder's IANA zone: `start` converted to that zone is the rule's
naive local DTSTART (BYHOUR/BYMINUTE/BYSECOND left out come from it), so 09:00 stays 09:00
on the wall clock in winter and in summer. Each local occurrence becomes an instant so:

* a local time that does not exist (spring-forward gap) is shifted forward by the gap:
  02:30 on the change day in America/New_York fires at 03:30 EDT;
* a local time that happens twice (fall-back overlap) fires once, at its first instance
  (fold=0): 01:30 on the change day in America/New_York fires at 01:30 EDT;
* local occurrences that land on one instant (an HOURLY rule's 02:30 shifted onto its
  03:30) fire once, and COUNT counts the instants that fire;
* nothing fires before the `start` instant (say the first 01:30 when start is the second).

`exdates` (RFC 5545's EXDATE) skips occurrences: a date ("2026-12-25") every occurrence on
that local day, a date-time with an offset the occurrence at that instant. A skipped
occurrence still counts toward COUNT, as in RFC 5545; a rule whose every occurrence is
skipped is refused.

`business_days` (workflows/business_days.py) moves a recurring or deadline schedule's fire
times off weekends and public holidays, to the previous or next business day at the same
local time, from the holiday dates stored with the schedule.

`until` is inclusive, compared as an instant. An UNTIL in the rule may be UTC
(20261231T235959Z), local (20261231T235959, in the reminder's zone) or a date (20261231:
through the end of that local day). COUNT and UNTIL together: whichever ends first.

A deadline offset's date part (Y, M, W, D) moves the due time's local wall clock, so "-P7D"
from 09:00 London is 09:00 London a week before, across a DST change too (a missing time is
shifted as above; a month step clamps to the month's last day); its time part (H, M, S) is
exact elapsed time.

Refused besides malformed input: FREQ=SECONDLY or MINUTELY, more than 24 fire times a day,
BYSETPOS but with MONTHLY or YEARLY, a rule with no occurrence before its until or within
100 years of its start (10 for HOURLY), a DAILY or HOURLY rule whose BY... parts allow days
more than two years apart, COUNT outside 1-10000, INTERVAL outside 1-1000, other than 1 to
50 offsets. Instants are whole seconds (sub-seconds are dropped) between the years 1900
and 9000.

Cost: dateutil looks for the next occurrence period by period (DAILY and HOURLY rules day
by day) and stops only at an occurrence or after the year 9999. Hence the two-year rule
(HOURLY on Mondays that are 29 February would walk up to 40 years of days for each
occurrence; YEARLY or MONTHLY says the same date in a few steps), and the check that a
rule fires at all is run on a copy moved to the end of dateutil's calendar, where its
walk ends soon after the horizon.

The pieces: this module (the shapes, validation, the occurrences), recurrence.py (the
RRULE: its parts, checks and instants), exdates.py, business_days.py, and
schedule_fields.py (instants, counts, offsets, zones, local time).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from itertools import islice, takewhile
from typing import Any
from zoneinfo import ZoneInfo

from workflows.business_days import (
    BusinessDays,
    BusinessDaysError,
    years_from,
)
from workflows.business_days import parse as parse_business_days
from workflows.recurrence import Recurring, check_fires, parse_recurring
from workflows.schedule_fields import (
    FIRST_YEAR,
    LAST_YEAR,
    Offset,
    ScheduleError,
    parse_instant,
    parse_offsets,
    required,
    zone_info,
)
from workflows.series import CHASE_FIELDS, Chase, DeadlineSeries, parse_chase, period_times

__all__ = [
    "Occurrence",
    "ScheduleError",
    "due_at",
    "instant_key",
    "period_of",
    "next_occurrence",
    "occurrences",
    "validate_schedule",
]

_FIELDS = {
    "once": {"at"},
    "recurring": {"rrule", "start"},
    "deadline": {"due_at", "offsets"},
    "deadline_series": {"rrule", "start", "offsets"},
}
_OPTIONAL = {
    "recurring": {"until", "count", "exdates", "business_days"},
    "deadline": {"business_days", *CHASE_FIELDS},
    "deadline_series": {"until", "count", "exdates", "business_days", *CHASE_FIELDS},
}


def instant_key(at: datetime) -> str:
    """An instant as an occurrence or period key: "2026-12-15T09:00:00Z"."""
    return at.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="seconds") + "Z"


@dataclass(frozen=True)
class Occurrence:
    key: str  # the UTC instant, e.g. "2026-12-15T09:00:00Z"
    at: datetime  # aware, UTC
    # The period it belongs to, keyed like an occurrence: a deadline's (or a deadline
    # series') due time; a `once` or `recurring` occurrence is a period of its own.
    period: str = ""

    def __post_init__(self) -> None:
        if not self.period:
            object.__setattr__(self, "period", self.key)

    @classmethod
    def at_instant(cls, at: datetime, period: datetime | None = None) -> Occurrence:
        at = at.astimezone(UTC)
        return cls(
            key=instant_key(at), at=at, period=instant_key(period) if period is not None else ""
        )


def validate_schedule(raw: Any, timezone: str) -> dict[str, Any]:
    """Check a caller's schedule; return its normalised JSON-able form or raise ScheduleError."""
    zone = zone_info(timezone)
    schedule = _parse(raw, zone, lookup=True)
    rule = schedule.rule if isinstance(schedule, DeadlineSeries) else schedule
    if isinstance(rule, Recurring):
        check_fires(rule, zone)
        if rule.exdates is not None and next(rule.instants(zone, None), None) is None:
            raise ScheduleError("schedule.exdates: every occurrence of the rule is excluded")
    return schedule.normalised()


def next_occurrence(
    schedule: dict[str, Any], timezone: str, after: datetime | None
) -> Occurrence | None:
    """The first occurrence strictly after `after` (the very first when None), or None."""
    found = occurrences(schedule, timezone, after, limit=1)
    return found[0] if found else None


def occurrences(
    schedule: dict[str, Any],
    timezone: str,
    after: datetime | None = None,
    limit: int = 1000,
    before: datetime | None = None,
) -> list[Occurrence]:
    """Up to `limit` successive occurrences strictly after `after` (from the first when None)
    and, when given, before `before`: the search ends at the first occurrence past it."""
    if after is not None and after.utcoffset() is None:
        raise ValueError("after must be timezone-aware")
    if after is not None and after.year >= LAST_YEAR:
        return []
    if after is not None and after.year < FIRST_YEAR:
        after = None  # every occurrence is later
    zone = zone_info(timezone)
    shape = _parse(schedule, zone)
    timed: Iterable[tuple[datetime, datetime | None]]
    if isinstance(shape, (DeadlineSeries, _Deadline)):
        timed = shape.timed(zone, after)
    else:
        timed = ((at, None) for at in shape.instants(zone, after))
    if before is not None:
        timed = takewhile(lambda pair: pair[0] < before, timed)
    return [Occurrence.at_instant(at, period) for at, period in islice(timed, max(limit, 0))]


def period_of(schedule: dict[str, Any], timezone: str, key: str) -> str | None:
    """The period of the occurrence keyed `key`; None when the schedule has no such
    occurrence."""
    try:
        at = parse_instant(key.removesuffix("Z") + "+00:00", "key")
    except ScheduleError:
        return None
    found = occurrences(schedule, timezone, after=at - timedelta(seconds=1), limit=1)
    return found[0].period if found and found[0].key == key else None


def due_at(schedule: dict[str, Any]) -> datetime | None:
    """The deadline's due time or the `once` time, in UTC; None for a recurring schedule."""
    field = {"once": "at", "deadline": "due_at"}.get(_kind(schedule))
    if field is None:
        return None  # recurring; a series' due time is its period's
    return parse_instant(required(schedule, field), f"schedule.{field}").astimezone(UTC)


# ---- the three shapes --------------------------------------------------------------------


@dataclass(frozen=True)
class _Once:
    at: datetime

    def normalised(self) -> dict[str, Any]:
        return {"kind": "once", "at": self.at.isoformat()}

    def instants(self, zone: ZoneInfo, after: datetime | None) -> Iterator[datetime]:
        if after is None or self.at > after:
            yield self.at.astimezone(UTC)


@dataclass(frozen=True)
class _Deadline:
    due: datetime
    offsets: tuple[Offset, ...]
    business_days: BusinessDays | None = None
    chase: Chase | None = None

    def normalised(self) -> dict[str, Any]:
        offsets = [offset.text for offset in self.offsets]
        normal: dict[str, Any] = {
            "kind": "deadline",
            "due_at": self.due.isoformat(),
            "offsets": offsets,
        }
        if self.chase is not None:
            normal |= self.chase.normalised()
        if self.business_days is not None:
            normal["business_days"] = self.business_days.normalised()
        return normal

    def instants(self, zone: ZoneInfo, after: datetime | None) -> Iterator[datetime]:
        every = period_times(self.due, self.offsets, self.chase, self.business_days, zone)
        return (at for at in every if after is None or at > after)

    def timed(self, zone: ZoneInfo, after: datetime | None) -> Iterator[tuple[datetime, datetime]]:
        return ((at, self.due) for at in self.instants(zone, after))


# ---- parsing -----------------------------------------------------------------------------


Shape = _Once | Recurring | _Deadline | DeadlineSeries


def _parse(raw: Any, zone: ZoneInfo, lookup: bool = False) -> Shape:
    """The schedule's shape; `lookup`: a caller's schedule, whose business days' holidays
    are looked up (else a stored one, whose holidays are part of it)."""
    kind = _kind(raw)
    for name in sorted(raw.keys() - {"kind"} - _FIELDS[kind] - _OPTIONAL.get(kind, set())):
        raise ScheduleError(f"schedule.{name}: not a field of a {kind!r} schedule")
    if kind == "once":
        return _Once(parse_instant(required(raw, "at"), "schedule.at"))
    if kind == "deadline":
        due = parse_instant(required(raw, "due_at"), "schedule.due_at")
        offsets = parse_offsets(required(raw, "offsets"), due, zone)
        deadline = _Deadline(due, offsets, chase=parse_chase(raw))
        if raw.get("business_days") is None:
            return deadline
        every = list(deadline.instants(zone, None))
        years = years_from(min(every), max(every)) if lookup else None
        return replace(deadline, business_days=_business_days(raw, years))
    if kind == "deadline_series":
        return _series(raw, zone, lookup)
    recurring = parse_recurring(raw, zone)
    if raw.get("business_days") is None:
        return recurring
    years = years_from(recurring.start, recurring.until) if lookup else None
    return replace(recurring, business_days=_business_days(raw, years))


def _series(raw: dict[str, Any], zone: ZoneInfo, lookup: bool) -> DeadlineSeries:
    rule = parse_recurring({**raw, "kind": "recurring"}, zone)
    offsets = parse_offsets(required(raw, "offsets"), rule.start, zone)
    series = DeadlineSeries(rule, offsets, parse_chase(raw))
    if raw.get("business_days") is None:
        return series
    first = min(period_times(rule.start, offsets, series.chase, None, zone))
    last = None if rule.until is None else rule.until + timedelta(days=2 * 366)
    years = years_from(first, last) if lookup else None
    return series.with_business_days(_business_days(raw, years))


def _business_days(raw: dict[str, Any], years: range | None) -> BusinessDays:
    try:
        return parse_business_days(raw["business_days"], years)
    except BusinessDaysError as exc:
        raise ScheduleError(str(exc)) from None


def _kind(raw: Any) -> str:
    if not isinstance(raw, dict):
        raise ScheduleError("schedule: expected an object with a 'kind'")
    kind = required(raw, "kind")
    if not isinstance(kind, str) or kind not in _FIELDS:
        raise ScheduleError(
            f"schedule.kind: {kind!r} is not one of once, recurring, deadline, deadline_series"
        )
    return kind
