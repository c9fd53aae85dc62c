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
"""

from __future__ import annotations

import calendar
import heapq
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from itertools import chain, islice, takewhile
from typing import Any
from zoneinfo import ZoneInfo

from dateutil.rrule import rrule, rrulestr

from workflows.business_days import MAX_SHIFT_DAYS, BusinessDays, BusinessDaysError, years_from
from workflows.business_days import parse as parse_business_days

_FIRST_YEAR, _LAST_YEAR = 1900, 9000
_END = datetime(_LAST_YEAR, 1, 1)  # local times past this are never looked at
# Longer than any gap a zone has had (Samoa skipped a day in 2011): a local time this long
# before `after` cannot be shifted past it.
_GAP_MARGIN = timedelta(days=2)
# How far after its start a rule must fire: dateutil walks an HOURLY rule slowly through
# days its BY... parts exclude, about half a second for ten years.
_HORIZON_YEARS = {"HOURLY": 10}  # else 100
# The Gregorian calendar, weekdays included, repeats every 400 years; dateutil stops walking
# after the year 9999, so its last whole cycle starts in 9600 (a multiple of 400, like 2000).
_CYCLE_YEARS, _LAST_CYCLE = 400, 9600
_CYCLE = timedelta(days=146_097)
# How far apart a DAILY or HOURLY rule's days may be. Two years: a day every calendar year
# (Friday the 13th: up to 14 months apart) or every year of week numbers (53 weeks) passes;
# one only leap years have (4 to 8 years apart) does not.
_MOST_DAYS_APART = timedelta(days=2 * 366)
# Hours one INTERVAL step moves a rule that dateutil walks day by day.
_STEP_HOURS = {"DAILY": 24, "HOURLY": 1}
_CALENDAR_PARTS = {"BYMONTH", "BYMONTHDAY", "BYYEARDAY", "BYWEEKNO"}
_WEEKDAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
_MAX_COUNT, _MAX_INTERVAL, _MAX_PER_DAY, _MAX_OFFSETS = 10_000, 1000, 24, 50

_FIELDS = {"once": {"at"}, "recurring": {"rrule", "start"}, "deadline": {"due_at", "offsets"}}
_OPTIONAL = {
    "recurring": {"until", "count", "exdates", "business_days"},
    "deadline": {"business_days"},
}
_MAX_EXDATES = 1000
_FREQS = ("YEARLY", "MONTHLY", "WEEKLY", "DAILY", "HOURLY")
_NUMBERS = {  # part: (smallest, largest, negatives allowed)
    "INTERVAL": (1, _MAX_INTERVAL, False),
    "BYSECOND": (0, 59, False),
    "BYMINUTE": (0, 59, False),
    "BYHOUR": (0, 23, False),
    "BYMONTHDAY": (1, 31, True),
    "BYYEARDAY": (1, 366, True),
    "BYWEEKNO": (1, 53, True),
    "BYMONTH": (1, 12, False),
    "BYSETPOS": (1, 366, True),
}
_PARTS = {"FREQ", "COUNT", "UNTIL", "BYDAY", "WKST", *_NUMBERS}
_DAY_PARTS = {"BYWEEKNO", "BYYEARDAY", "BYMONTHDAY", "BYDAY"}
_DAY = re.compile(r"([+-]?\d{1,2})?(MO|TU|WE|TH|FR|SA|SU)")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_UNTIL = re.compile(r"(\d{8})(?:T(\d{6})(Z)?)?")
_DURATION = re.compile(
    r"(?P<sign>[+-])?P(?:(?P<Y>\d{1,6})Y)?(?:(?P<Mo>\d{1,6})M)?(?:(?P<W>\d{1,6})W)?"
    r"(?:(?P<D>\d{1,6})D)?(?:T(?:(?P<H>\d{1,7})H)?(?:(?P<Mi>\d{1,9})M)?(?:(?P<S>\d{1,10})S)?)?"
)


class ScheduleError(ValueError):
    """A schedule the caller must fix; the message names the field and is shown as is."""


@dataclass(frozen=True)
class Occurrence:
    key: str  # the UTC instant, e.g. "2026-12-15T09:00:00Z"
    at: datetime  # aware, UTC

    @classmethod
    def at_instant(cls, at: datetime) -> Occurrence:
        at = at.astimezone(UTC)
        return cls(key=at.replace(tzinfo=None).isoformat(timespec="seconds") + "Z", at=at)


def validate_schedule(raw: Any, timezone: str) -> dict[str, Any]:
    """Check a caller's schedule; return its normalised JSON-able form or raise ScheduleError."""
    zone = _zone(timezone)
    schedule = _parse(raw, zone, lookup=True)
    if isinstance(schedule, _Recurring):
        _check_fires(schedule, zone)
        if schedule.exdates is not None and next(schedule.instants(zone, None), None) is None:
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
    if after is not None and after.year >= _LAST_YEAR:
        return []
    if after is not None and after.year < _FIRST_YEAR:
        after = None  # every occurrence is later
    zone = _zone(timezone)
    instants: Iterable[datetime] = _parse(schedule, zone).instants(zone, after)
    if before is not None:
        instants = takewhile(lambda at: at < before, instants)
    return [Occurrence.at_instant(at) for at in islice(instants, max(limit, 0))]


def due_at(schedule: dict[str, Any]) -> datetime | None:
    """The deadline's due time or the `once` time, in UTC; None for a recurring schedule."""
    field = {"once": "at", "deadline": "due_at"}.get(_kind(schedule))
    if field is None:
        return None
    return _instant(_required(schedule, field), f"schedule.{field}").astimezone(UTC)


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
    offsets: tuple[_Offset, ...]
    business_days: BusinessDays | None = None

    def normalised(self) -> dict[str, Any]:
        offsets = [offset.text for offset in self.offsets]
        normal: dict[str, Any] = {
            "kind": "deadline",
            "due_at": self.due.isoformat(),
            "offsets": offsets,
        }
        if self.business_days is not None:
            normal["business_days"] = self.business_days.normalised()
        return normal

    def instants(self, zone: ZoneInfo, after: datetime | None) -> Iterator[datetime]:
        every = {offset.apply(self.due, zone) for offset in self.offsets}
        if self.business_days is not None:
            every = {_moved(at, self.business_days, zone) for at in every}
        return (at for at in sorted(every) if after is None or at > after)


@dataclass(frozen=True)
class _Recurring:
    rule: dict[str, str]  # the RRULE parts, in the caller's order
    start: datetime
    until: datetime | None  # from the field or the rule, in UTC
    count: int | None
    fields: dict[str, Any]  # `until` and `count` as given as fields, for normalised()
    exdates: _Exdates | None = None
    business_days: BusinessDays | None = None

    def normalised(self) -> dict[str, Any]:
        rule = ";".join(f"{name}={value}" for name, value in self.rule.items())
        normal: dict[str, Any] = {
            "kind": "recurring",
            "rrule": rule,
            "start": self.start.isoformat(),
        }
        if self.exdates is not None:
            normal["exdates"] = self.exdates.normalised()
        if self.business_days is not None:
            normal["business_days"] = self.business_days.normalised()
        return {**normal, **self.fields}

    def instants(
        self, zone: ZoneInfo, after: datetime | None, horizon: datetime = _END
    ) -> Iterator[datetime]:
        """Ascending distinct instants after `after`, honouring start, until, count,
        exdates and business days; local times past `horizon` are not looked at."""
        days = self.business_days
        if days is None:
            yield from self._rule_instants(zone, after, horizon)
            return
        # A moved time is at most MAX_SHIFT_DAYS (and an hour of DST) from the rule's.
        slack = timedelta(days=MAX_SHIFT_DAYS + 1)
        early = None if after is None else after - slack
        rule_instants = self._rule_instants(zone, early, horizon)
        moved = _in_order((_moved(at, days, zone) for at in rule_instants), slack)
        yield from (at for at in moved if after is None or at > after)

    def _rule_instants(
        self, zone: ZoneInfo, after: datetime | None, horizon: datetime
    ) -> Iterator[datetime]:
        stop = horizon if self.until is None else min(horizon, _local(self.until, zone))
        fired = 0
        for at in _sorted_instants(self._local_times(zone, after, stop + _GAP_MARGIN), zone):
            if at < self.start:
                continue
            fired += 1  # an excluded occurrence still counts toward COUNT (RFC 5545)
            if (self.until and at > self.until) or (self.count and fired > self.count):
                return
            if self.exdates is not None and self.exdates.excludes(at, zone):
                continue
            if after is None or at > after:
                yield at

    def _local_times(
        self, zone: ZoneInfo, after: datetime | None, stop: datetime
    ) -> Iterator[datetime]:
        start = _local(self.start, zone)
        rule = _dateutil_rule(self.rule, _PARTS - {"COUNT", "UNTIL"}, start)
        if self.count is not None or after is None:  # COUNT counts from the start
            return iter(rule.replace(until=stop))
        # Skip ahead: the same rule from a later DTSTART on its own period grid, with the
        # parts dateutil would fill in from DTSTART pinned to the original's.
        local_after = _local(after, zone)
        rebased = _rebased_start(self.rule, start, local_after - _GAP_MARGIN)
        rule = rule.replace(dtstart=rebased, until=stop, **_implied_parts(self.rule, start))
        return rule.xafter(local_after - _GAP_MARGIN, inc=True)


def _rebased_start(rule: dict[str, str], start: datetime, target: datetime) -> datetime:
    """The latest DTSTART <= target a whole number of INTERVALs after `start` (on day 1 of
    its month for MONTHLY and YEARLY), else `start`."""
    freq, interval = rule["FREQ"], int(rule.get("INTERVAL", "1"))
    if target <= start:
        return start
    if freq in ("YEARLY", "MONTHLY"):
        step = interval * (12 if freq == "YEARLY" else 1)
        # Months up to the one before target's, so that its day 1 is before target.
        steps = ((target.year - start.year) * 12 + target.month - start.month - 1) // step
        if steps < 1:
            return start
        year, month = divmod(start.year * 12 + start.month - 1 + steps * step, 12)
        return start.replace(year=year, month=month + 1, day=1)
    unit = {"WEEKLY": timedelta(weeks=1), "DAILY": timedelta(days=1)}.get(freq, timedelta(hours=1))
    return start + (target - start) // (unit * interval) * (unit * interval)


def _implied_parts(rule: dict[str, str], start: datetime) -> dict[str, Any]:
    """What dateutil takes from DTSTART when the rule names no day (rrule.__init__)."""
    freq, implied = rule["FREQ"], dict[str, Any]()
    if _DAY_PARTS & rule.keys():
        return implied
    if freq in ("YEARLY", "MONTHLY"):
        implied["bymonthday"] = start.day
    if freq == "YEARLY" and "BYMONTH" not in rule:
        implied["bymonth"] = start.month
    if freq == "WEEKLY":
        implied["byweekday"] = start.weekday()
    return implied


def _sorted_instants(local_times: Iterable[datetime], zone: ZoneInfo) -> Iterator[datetime]:
    """The instants of ascending local times, ascending and without repeats.

    A gap-shifted time can overtake the next local times (02:30 -> 03:30 passes 03:00), so
    an instant is held back until the local times pass its wall-clock time: from there on
    every local time maps to a later instant.
    """
    pending: list[datetime] = []
    last = None
    for local in chain(local_times, [None]):  # None: the end, release what is left
        if local is not None:
            heapq.heappush(pending, _to_utc(local, zone))
        while pending and (local is None or _local(pending[0], zone) <= local):
            at = heapq.heappop(pending)
            if at != last:
                yield at
            last = at


# ---- parsing -----------------------------------------------------------------------------


def _parse(raw: Any, zone: ZoneInfo, lookup: bool = False) -> _Once | _Recurring | _Deadline:
    """The schedule's shape; `lookup`: a caller's schedule, whose business days' holidays
    are looked up (else a stored one, whose holidays are part of it)."""
    kind = _kind(raw)
    for name in sorted(raw.keys() - {"kind"} - _FIELDS[kind] - _OPTIONAL.get(kind, set())):
        raise ScheduleError(f"schedule.{name}: not a field of a {kind!r} schedule")
    if kind == "once":
        return _Once(_instant(_required(raw, "at"), "schedule.at"))
    if kind == "deadline":
        due = _instant(_required(raw, "due_at"), "schedule.due_at")
        deadline = _Deadline(due, _offsets(_required(raw, "offsets"), due, zone))
        if raw.get("business_days") is None:
            return deadline
        every = [offset.apply(due, zone) for offset in deadline.offsets]
        years = years_from(min(every), max(every)) if lookup else None
        return replace(deadline, business_days=_business_days(raw, years))
    recurring = _parse_recurring(raw, zone)
    if raw.get("business_days") is None:
        return recurring
    years = years_from(recurring.start, recurring.until) if lookup else None
    return replace(recurring, business_days=_business_days(raw, years))


def _business_days(raw: dict[str, Any], years: range | None) -> BusinessDays:
    try:
        return parse_business_days(raw["business_days"], years)
    except BusinessDaysError as exc:
        raise ScheduleError(str(exc)) from None


def _kind(raw: Any) -> str:
    if not isinstance(raw, dict):
        raise ScheduleError("schedule: expected an object with a 'kind'")
    kind = _required(raw, "kind")
    if not isinstance(kind, str) or kind not in _FIELDS:
        raise ScheduleError(f"schedule.kind: {kind!r} is not one of once, recurring, deadline")
    return kind


def _required(raw: dict[str, Any], name: str) -> Any:
    if raw.get(name) is None:
        raise ScheduleError(f"schedule.{name}: required")
    return raw[name]


def _parse_recurring(raw: dict[str, Any], zone: ZoneInfo) -> _Recurring:
    rule = _rule(_required(raw, "rrule"))
    start = _instant(_required(raw, "start"), "schedule.start")
    fields = {name: raw[name] for name in ("until", "count") if raw.get(name) is not None}
    for name in (name for name in fields if name.upper() in rule):
        raise ScheduleError(f"schedule.{name}: {name.upper()} is also in schedule.rrule")
    until = _rule_until(rule["UNTIL"], zone) if "UNTIL" in rule else None
    if "until" in fields:
        until = _instant(fields["until"], "schedule.until")
        fields["until"] = until.isoformat()
    count = _count(rule["COUNT"], "schedule.rrule: COUNT") if "COUNT" in rule else None
    if "count" in fields:
        count = fields["count"] = _count(fields["count"], "schedule.count")
    if until is not None and until < start:
        where = "schedule.until" if "until" in fields else "schedule.rrule: UNTIL"
        raise ScheduleError(f"{where}: is before schedule.start")
    exdates = _exdates(raw["exdates"]) if raw.get("exdates") is not None else None
    return _Recurring(rule, start, until and until.astimezone(UTC), count, fields, exdates)


def _check_fires(schedule: _Recurring, zone: ZoneInfo) -> None:
    """Refuse a DAILY or HOURLY rule whose days can be more than two years apart, and any
    rule that does not fire within its horizon (or before its until)."""
    years = _HORIZON_YEARS.get(schedule.rule["FREQ"], 100)
    start = _local(schedule.start, zone)
    horizon = min(start + timedelta(days=365.25 * years), _END)
    try:
        days = _days_it_may_fire(schedule.rule, start)
        rare = _rare_days(schedule.rule, days)
        fires = rare is None and days != [] and _fires_before(schedule, zone, horizon)
    except ValueError as exc:  # combinations dateutil refuses itself
        raise ScheduleError(f"schedule.rrule: {exc}") from None
    if rare is not None:
        raise ScheduleError(rare)
    if not fires:
        stop = horizon if schedule.until is None else min(horizon, _local(schedule.until, zone))
        within = f"in the {years} years after schedule.start"
        if stop < horizon:
            within = "between schedule.start and until"
        raise ScheduleError(f"schedule.rrule: the rule yields no occurrence {within}")


def _rare_days(rule: dict[str, str], days: list[datetime] | None) -> str | None:
    """Why a rule whose `days` (the first and last of each year of a 400-year cycle) can be
    more than two years apart is refused; None when they never are, or there are none (the
    horizon's message says so)."""
    if not days:
        return None
    gaps = [later - earlier for earlier, later in zip(days, days[1:], strict=False)]
    gap = max([*gaps, _CYCLE - (days[-1] - days[0])])  # on to the next cycle's first day
    if gap <= _MOST_DAYS_APART:
        return None
    years = max(2, round(gap.days / 365.2425))
    return (
        f"schedule.rrule: a rule with FREQ={rule['FREQ']} must fire at least every two years "
        f"(its occurrences are searched for day by day), but the days its BY... parts allow "
        f"come up to {years} years apart; say it with FREQ=YEARLY or FREQ=MONTHLY"
    )


def _fires_before(schedule: _Recurring, zone: ZoneInfo, horizon: datetime) -> bool:
    """Whether the rule fires before the local time `horizon` (and its until).

    Asked of a copy moved on by whole 400-year cycles to end its horizon in dateutil's last
    cycle: a rule that never fires is then walked to the year 9999 from there, not from its
    start thousands of years earlier. (The horizon and its two-day margin stay in 9998.)"""
    cycles = (9998 - horizon.year) // _CYCLE_YEARS

    def moved(at: datetime) -> datetime:
        local = _local(at, zone)
        return _to_utc(local.replace(year=local.year + cycles * _CYCLE_YEARS), zone)

    until = schedule.until
    if until is not None and _local(until, zone) >= horizon:
        until = None  # the horizon comes first; moved on, it might not fit in 9999
    # Exclusions name dates of the rule's own years, not the moved copy's.
    copy = replace(
        schedule,
        start=moved(schedule.start),
        until=until and moved(until),
        exdates=None,
        business_days=None,
    )
    later = horizon.replace(year=horizon.year + cycles * _CYCLE_YEARS)
    return next(copy.instants(zone, None, later), None) is not None


def _days_it_may_fire(rule: dict[str, str], start: datetime) -> list[datetime] | None:
    """For a DAILY or HOURLY rule with calendar parts (BYMONTH, BYMONTHDAY, BYYEARDAY,
    BYWEEKNO), the first and the last day of each year it may fire on, over dateutil's
    last 400-year cycle; [] when its INTERVAL never lands on a weekday its BYDAY allows.
    None for the other rules: they fire every week, or walk by weeks, months or years.

    Asked of a YEARLY rule with the same day parts (dateutil judges a day of either by the
    same masks of its year) that keeps those two days a year: at most 400 steps of a year,
    however rare the days."""
    if rule["FREQ"] not in _STEP_HOURS:
        return None
    weekdays = _weekdays_reached(rule, start)
    if not weekdays:
        return []
    if not _CALENDAR_PARTS & rule.keys():
        return None
    probe = {name: rule[name] for name in _CALENDAR_PARTS & rule.keys()}
    probe |= {"FREQ": "YEARLY", "BYDAY": ",".join(weekdays), "BYSETPOS": "1,-1"}
    return list(_dateutil_rule({**rule, **probe}, set(probe), datetime(_LAST_CYCLE, 1, 1)))


def _weekdays_reached(rule: dict[str, str], start: datetime) -> list[str]:
    """The weekdays a DAILY or HOURLY rule may fire on: those its BYDAY allows that its
    INTERVAL steps land on (a step of whole weeks always lands on the start's weekday), at
    an hour its BYHOUR allows for HOURLY, which steps by the hour."""
    freq = rule["FREQ"]
    allowed = rule["BYDAY"].split(",") if "BYDAY" in rule else _WEEKDAYS
    hours = {int(hour) for hour in rule.get("BYHOUR", "").split(",") if hour}
    step = _STEP_HOURS[freq] * int(rule.get("INTERVAL", "1"))
    first = start.weekday() * 24 + start.hour
    reached = set()
    for n in range(7 * 24):  # the hour of the week repeats within 168 steps
        at = (first + n * step) % (7 * 24)
        if freq == "DAILY" or not hours or at % 24 in hours:
            reached.add(_WEEKDAYS[at // 24])
    return [day for day in _WEEKDAYS if day in reached and day in allowed]


def _dateutil_rule(rule: dict[str, str], names: set[str], dtstart: datetime) -> rrule:
    body = ";".join(f"{k}={v}" for k, v in rule.items() if k in names and k != "WKST")
    # RFC 5545's default week start; dateutil's would come from `calendar`'s global state.
    return rrulestr(f"{body};WKST={rule.get('WKST', 'MO')}", dtstart=dtstart)


def _rule(value: Any) -> dict[str, str]:
    if not isinstance(value, str):
        raise ScheduleError("schedule.rrule: expected a string such as 'FREQ=WEEKLY;BYDAY=MO'")
    text = value.strip().upper().removeprefix("RRULE:")
    if "DTSTART" in text or "TZID" in text:
        raise ScheduleError(
            "schedule.rrule: DTSTART and TZID are not allowed in the rule; the start is "
            "schedule.start and the zone is the reminder's timezone"
        )
    if ":" in text or "\n" in text:
        raise ScheduleError("schedule.rrule: give one RRULE such as 'FREQ=DAILY;BYHOUR=9'")
    rule: dict[str, str] = {}
    for item in filter(None, text.split(";")):  # a trailing ';' is harmless
        name, _, part = (word.strip() for word in item.partition("="))
        if not part:
            raise ScheduleError(f"schedule.rrule: {item!r} is not NAME=VALUE")
        if name not in _PARTS or name in rule:
            problem = "is given twice" if name in rule else "is not supported"
            raise ScheduleError(f"schedule.rrule: {name} {problem}")
        rule[name] = part.replace(" ", "")
    _check_rule(rule)
    return rule


def _check_rule(rule: dict[str, str]) -> None:
    freq = rule.get("FREQ", "")
    if freq in ("SECONDLY", "MINUTELY"):
        raise ScheduleError(f"schedule.rrule: FREQ={freq} is not allowed (too frequent)")
    if freq not in _FREQS:
        raise ScheduleError(f"schedule.rrule: FREQ must be one of {', '.join(_FREQS)}")
    for name in (name for name in rule if name in _NUMBERS):  # in order: the same message
        _check_numbers(name, rule[name])
    for day in rule["BYDAY"].split(",") if "BYDAY" in rule else ():
        _check_day(day, freq, "BYWEEKNO" in rule)
    if rule.get("WKST", "MO") not in ("MO", "TU", "WE", "TH", "FR", "SA", "SU"):
        raise ScheduleError(f"schedule.rrule: WKST={rule['WKST']} is not a day (MO to SU)")
    if "BYSETPOS" in rule and freq not in ("MONTHLY", "YEARLY"):
        raise ScheduleError("schedule.rrule: BYSETPOS is supported with MONTHLY or YEARLY only")
    if (per_day := _fires_per_day(rule)) > _MAX_PER_DAY:
        raise ScheduleError(f"schedule.rrule: fires up to {per_day} times a day; at most 24")


def _check_numbers(name: str, text: str) -> None:
    low, high, negative = _NUMBERS[name]
    for item in text.split(","):
        if re.fullmatch(r"[+-]?\d{1,5}", item) is None:
            raise ScheduleError(f"schedule.rrule: {name}={text} is not a list of numbers")
        if not (low <= int(item) <= high or (negative and -high <= int(item) <= -low)):
            also = f" or -{high} to -{low}" if negative else ""
            raise ScheduleError(f"schedule.rrule: {name}={item} is not in {low} to {high}{also}")


def _check_day(day: str, freq: str, with_weekno: bool) -> None:
    match = _DAY.fullmatch(day)
    if match is None or (match[1] is not None and not 1 <= abs(int(match[1])) <= 53):
        raise ScheduleError(f"schedule.rrule: BYDAY={day} is not a day such as MO, +1MO or -1FR")
    if match[1] is not None and (freq not in ("MONTHLY", "YEARLY") or with_weekno):
        raise ScheduleError(
            f"schedule.rrule: BYDAY={day} takes a number only with MONTHLY or YEARLY"
        )


def _fires_per_day(rule: dict[str, str]) -> int:
    def size(name: str) -> int:
        return len(set(rule[name].split(","))) if name in rule else 1

    hours = size("BYHOUR")
    if rule["FREQ"] == "HOURLY" and "BYHOUR" not in rule:
        hours = -(-24 // int(rule.get("INTERVAL", "1")))
    return hours * size("BYMINUTE") * size("BYSECOND")


def _rule_until(text: str, zone: ZoneInfo) -> datetime:
    match = _UNTIL.fullmatch(text)
    try:
        if match is None or not _FIRST_YEAR <= int(text[:4]) < _LAST_YEAR:
            raise ValueError
        local = datetime.strptime(match[1] + (match[2] or "235959"), "%Y%m%d%H%M%S")
    except ValueError:
        raise ScheduleError(
            f"schedule.rrule: UNTIL={text} is not a date (20261231) or a date-time "
            "(20261231T235959Z) from 1900 to 9000"
        ) from None
    # A bare date means through the end of that local day.
    return local.replace(tzinfo=UTC) if match[3] else _to_utc(local, zone)


def _count(value: Any, field: str) -> int:
    if isinstance(value, str) and value.isdigit():
        value = int(value)  # COUNT inside the rule
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= _MAX_COUNT:
        raise ScheduleError(f"{field}: must be a whole number from 1 to {_MAX_COUNT}")
    return value


def _instant(value: Any, field: str) -> datetime:
    """An aware datetime in whole seconds, from an ISO 8601 string (a trailing Z is fine)."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip())
        except ValueError:
            raise ScheduleError(f"{field}: {value!r} is not an ISO 8601 date-time") from None
    if not isinstance(value, datetime):
        raise ScheduleError(f"{field}: expected an ISO 8601 date-time string")
    if value.utcoffset() is None:
        raise ScheduleError(
            f"{field}: {value.isoformat()!r} needs a UTC offset, such as "
            "'2026-12-01T09:00:00+00:00' or '2026-12-01T09:00:00Z'"
        )
    if not _FIRST_YEAR <= value.year < _LAST_YEAR:
        raise ScheduleError(f"{field}: must be between the years 1900 and 9000")
    return value.replace(microsecond=0)


# ---- business days -----------------------------------------------------------------------


def _moved(at: datetime, days: BusinessDays, zone: ZoneInfo) -> datetime:
    """The instant moved to the business day its local day moves to, same local time."""
    local = _local(at, zone)
    day = days.shifted_day(local.date())
    if day == local.date():
        return at
    return _to_utc(datetime.combine(day, local.time()), zone)


def _in_order(instants: Iterable[datetime], slack: timedelta) -> Iterator[datetime]:
    """Instants each within `slack` of an ascending stream, ascending and without repeats:
    one is held back until the stream has passed it by twice `slack`."""
    pending: list[datetime] = []
    last = None
    for at in chain(instants, [None]):  # None: the end, release what is left
        if at is not None:
            heapq.heappush(pending, at)
        while pending and (at is None or pending[0] + 2 * slack <= at):
            earliest = heapq.heappop(pending)
            if earliest != last:
                yield earliest
            last = earliest


# ---- exclusions (EXDATE) ------------------------------------------------------------------


@dataclass(frozen=True)
class _Exdates:
    """Occurrences a recurring schedule skips: whole local days ("2026-12-25": every
    occurrence on that day in the reminder's zone) and exact instants."""

    days: frozenset[date]
    instants: frozenset[datetime]  # UTC

    def excludes(self, at: datetime, zone: ZoneInfo) -> bool:
        return at in self.instants or _local(at, zone).date() in self.days

    def normalised(self) -> list[str]:
        days = [day.isoformat() for day in sorted(self.days)]
        return days + [at.isoformat() for at in sorted(self.instants)]


def _exdates(value: Any) -> _Exdates:
    field = "schedule.exdates"
    if not isinstance(value, list) or len(value) > _MAX_EXDATES:
        raise ScheduleError(
            f"{field}: expected a list of at most {_MAX_EXDATES} dates ('2026-12-25') or "
            "date-times with an offset ('2026-12-25T09:00:00+00:00')"
        )
    days: set[date] = set()
    instants: set[datetime] = set()
    for index, item in enumerate(value):
        where = f"{field}[{index}]"
        if isinstance(item, str) and _DATE.fullmatch(item.strip()):
            try:
                day = date.fromisoformat(item.strip())
            except ValueError:
                raise ScheduleError(f"{where}: {item!r} is not a date") from None
            if not _FIRST_YEAR <= day.year < _LAST_YEAR:
                raise ScheduleError(f"{where}: must be between the years 1900 and 9000")
            days.add(day)
        else:
            instants.add(_instant(item, where).astimezone(UTC))
    return _Exdates(frozenset(days), frozenset(instants))


# ---- deadline offsets and local time -----------------------------------------------------


@dataclass(frozen=True)
class _Offset:
    text: str  # normalised: "-P7D", "PT0S", ...
    months: int  # signed, on the local calendar
    days: int  # signed, on the local calendar
    elapsed: timedelta  # signed, exact

    def apply(self, due: datetime, zone: ZoneInfo) -> datetime:
        moved = due.astimezone(UTC)
        if self.months or self.days:  # only then: a round trip would move a time in an overlap
            moved = _to_utc(
                _add_months(_local(due, zone), self.months) + timedelta(days=self.days), zone
            )
        return moved + self.elapsed


def _offsets(value: Any, due: datetime, zone: ZoneInfo) -> tuple[_Offset, ...]:
    if not isinstance(value, list) or not 1 <= len(value) <= _MAX_OFFSETS:
        raise ScheduleError(f"schedule.offsets: expected a list of 1 to {_MAX_OFFSETS} durations")
    offsets = tuple(_offset(text, f"schedule.offsets[{i}]") for i, text in enumerate(value))
    for i, offset in enumerate(offsets):
        try:
            at: datetime | None = offset.apply(due, zone)
        except (OverflowError, ValueError):
            at = None
        if at is None or not _FIRST_YEAR <= at.year < _LAST_YEAR:
            raise ScheduleError(
                f"schedule.offsets[{i}]: {value[i]!r} moves the due time out of 1900-9000"
            )
    return offsets


def _offset(value: Any, field: str) -> _Offset:
    text = value.strip().upper() if isinstance(value, str) else ""
    match = _DURATION.fullmatch(text)
    # Every part of the pattern is optional, but "P", "PT" and "P1DT" are no durations.
    if match is None or text.endswith(("P", "T")):
        raise ScheduleError(f"{field}: {value!r} is not an ISO 8601 duration such as '-P7D'")
    n = {name: int(match[name] or 0) for name in ("Y", "Mo", "W", "D", "H", "Mi", "S")}
    date = "".join(f"{n[name]}{name[0]}" for name in ("Y", "Mo", "W", "D") if n[name])
    time = "".join(f"{n[name]}{name[0]}" for name in ("H", "Mi", "S") if n[name])
    sign = -1 if match["sign"] == "-" else 1
    normalised = ("-" if sign < 0 else "") + f"P{date}" + (f"T{time}" if time else "")
    return _Offset(
        text=normalised if date or time else "PT0S",
        months=sign * (12 * n["Y"] + n["Mo"]),
        days=sign * (7 * n["W"] + n["D"]),
        elapsed=sign * timedelta(hours=n["H"], minutes=n["Mi"], seconds=n["S"]),
    )


def _add_months(local: datetime, months: int) -> datetime:
    year, month = divmod(local.year * 12 + local.month - 1 + months, 12)
    day = min(local.day, calendar.monthrange(year, month + 1)[1])
    return local.replace(year=year, month=month + 1, day=day)


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (KeyError, ValueError, TypeError, OSError):  # unknown, malformed, a directory
        raise ScheduleError(f"timezone: {name!r} is not an IANA time zone") from None


def _local(at: datetime, zone: ZoneInfo) -> datetime:
    """The naive wall-clock time of an instant in `zone`."""
    return at.astimezone(zone).replace(tzinfo=None)


def _to_utc(local: datetime, zone: ZoneInfo) -> datetime:
    """fold=0 is the first of a repeated time; for a missing time it applies the offset from
    before the gap, which lands as far past the gap's end as the time was past its start."""
    return local.replace(tzinfo=zone, fold=0).astimezone(UTC)
