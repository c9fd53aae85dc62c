"""A recurring schedule (RFC 5545 RRULE): reading and checking the rule, and its instants
in a time zone, walked by dateutil (workflows/schedule.py says the rules and their costs).
Pure."""

from __future__ import annotations

import heapq
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from itertools import chain
from typing import Any
from zoneinfo import ZoneInfo

from dateutil.rrule import rrule, rrulestr

from workflows.business_days import BusinessDays, first_source, moved_in_order
from workflows.exdates import Exdates, parse_exdates
from workflows.schedule_fields import (
    END,
    FIRST_YEAR,
    LAST_YEAR,
    ScheduleError,
    local_time,
    parse_count,
    parse_instant,
    required,
    to_utc,
)

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
_MAX_INTERVAL, _MAX_PER_DAY = 1000, 24
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
_UNTIL = re.compile(r"(\d{8})(?:T(\d{6})(Z)?)?")


@dataclass(frozen=True)
class Recurring:
    rule: dict[str, str]  # the RRULE parts, in the caller's order
    start: datetime
    until: datetime | None  # from the field or the rule, in UTC
    count: int | None
    fields: dict[str, Any]  # `until` and `count` as given as fields, for normalised()
    exdates: Exdates | None = None
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
        self, zone: ZoneInfo, after: datetime | None, horizon: datetime = END
    ) -> Iterator[datetime]:
        """Ascending distinct instants after `after`, honouring start, until, count,
        exdates and business days; local times past `horizon` are not looked at."""
        days = self.business_days
        if days is None:
            yield from self._rule_instants(zone, after, horizon)
            return
        early = None if after is None else first_source(after, days, zone)
        rule_instants = self._rule_instants(zone, early, horizon)
        moved = moved_in_order(rule_instants, days, zone)
        yield from (at for at in moved if after is None or at > after)

    def _rule_instants(
        self, zone: ZoneInfo, after: datetime | None, horizon: datetime
    ) -> Iterator[datetime]:
        stop = horizon if self.until is None else min(horizon, local_time(self.until, zone))
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
        start = local_time(self.start, zone)
        rule = _dateutil_rule(self.rule, _PARTS - {"COUNT", "UNTIL"}, start)
        if self.count is not None or after is None:  # COUNT counts from the start
            return iter(rule.replace(until=stop))
        # Skip ahead: the same rule from a later DTSTART on its own period grid, with the
        # parts dateutil would fill in from DTSTART pinned to the original's.
        local_after = local_time(after, zone)
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
            heapq.heappush(pending, to_utc(local, zone))
        while pending and (local is None or local_time(pending[0], zone) <= local):
            at = heapq.heappop(pending)
            if at != last:
                yield at
            last = at


def parse_recurring(raw: dict[str, Any], zone: ZoneInfo) -> Recurring:
    rule = _rule(required(raw, "rrule"))
    start = parse_instant(required(raw, "start"), "schedule.start")
    fields = {name: raw[name] for name in ("until", "count") if raw.get(name) is not None}
    for name in (name for name in fields if name.upper() in rule):
        raise ScheduleError(f"schedule.{name}: {name.upper()} is also in schedule.rrule")
    until = _rule_until(rule["UNTIL"], zone) if "UNTIL" in rule else None
    if "until" in fields:
        until = parse_instant(fields["until"], "schedule.until")
        fields["until"] = until.isoformat()
    count = parse_count(rule["COUNT"], "schedule.rrule: COUNT") if "COUNT" in rule else None
    if "count" in fields:
        count = fields["count"] = parse_count(fields["count"], "schedule.count")
    if until is not None and until < start:
        where = "schedule.until" if "until" in fields else "schedule.rrule: UNTIL"
        raise ScheduleError(f"{where}: is before schedule.start")
    exdates = parse_exdates(raw["exdates"]) if raw.get("exdates") is not None else None
    return Recurring(rule, start, until and until.astimezone(UTC), count, fields, exdates)


def check_fires(schedule: Recurring, zone: ZoneInfo) -> None:
    """Refuse a DAILY or HOURLY rule whose days can be more than two years apart, and any
    rule that does not fire within its horizon (or before its until)."""
    years = _HORIZON_YEARS.get(schedule.rule["FREQ"], 100)
    start = local_time(schedule.start, zone)
    horizon = min(start + timedelta(days=365.25 * years), END)
    try:
        days = _days_it_may_fire(schedule.rule, start)
        rare = _rare_days(schedule.rule, days)
        fires = rare is None and days != [] and _fires_before(schedule, zone, horizon)
    except ValueError as exc:  # combinations dateutil refuses itself
        raise ScheduleError(f"schedule.rrule: {exc}") from None
    if rare is not None:
        raise ScheduleError(rare)
    if not fires:
        stop = horizon if schedule.until is None else min(horizon, local_time(schedule.until, zone))
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


def _fires_before(schedule: Recurring, zone: ZoneInfo, horizon: datetime) -> bool:
    """Whether the rule fires before the local time `horizon` (and its until).

    Asked of a copy moved on by whole 400-year cycles to end its horizon in dateutil's last
    cycle: a rule that never fires is then walked to the year 9999 from there, not from its
    start thousands of years earlier. (The horizon and its two-day margin stay in 9998.)"""
    cycles = (9998 - horizon.year) // _CYCLE_YEARS

    def moved(at: datetime) -> datetime:
        local = local_time(at, zone)
        return to_utc(local.replace(year=local.year + cycles * _CYCLE_YEARS), zone)

    until = schedule.until
    if until is not None and local_time(until, zone) >= horizon:
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
        if match is None or not FIRST_YEAR <= int(text[:4]) < LAST_YEAR:
            raise ValueError
        local = datetime.strptime(match[1] + (match[2] or "235959"), "%Y%m%d%H%M%S")
    except ValueError:
        raise ScheduleError(
            f"schedule.rrule: UNTIL={text} is not a date (20261231) or a date-time "
            "(20261231T235959Z) from 1900 to 9000"
        ) from None
    # A bare date means through the end of that local day.
    return local.replace(tzinfo=UTC) if match[3] else to_utc(local, zone)
