"""Moving a fire time off weekends and public holidays: a schedule's `business_days`
option, `{"country": "GB", "subdivision"?: "ENG", "move"?: "previous" | "next"}`.

An occurrence whose local day (in the reminder's zone) is a weekend day or a public holiday
of the country moves to the previous (default) or the next business day, at the same local
time. The holiday dates come from the `holidays` package when the schedule is validated
(by the API) and are stored in the normalised schedule for the years it can fire in, so
the workflow computes from data in its input: replaying a history never depends on the
installed package, and a reminder's calendar changes only when its schedule is saved
again. A day more than MAX_SHIFT_DAYS from a business day is left where it is.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from itertools import chain
from typing import Any
from zoneinfo import ZoneInfo

from workflows.schedule_fields import local_time, to_utc

MAX_SHIFT_DAYS = 14
# Years of holidays stored with a schedule that has no end: validation covers from its
# start (or this year) this many years ahead; later occurrences skip weekends only.
YEARS_AHEAD = 10
MOVES = ("previous", "next")
_FIELDS = {"country", "subdivision", "move", "weekend", "holidays"}


class BusinessDaysError(ValueError):
    """A `business_days` option the caller must fix; the message names the field."""


@dataclass(frozen=True)
class BusinessDays:
    country: str
    subdivision: str | None
    move: str
    weekend: frozenset[int]  # Monday is 0
    holidays: frozenset[date]

    def is_business_day(self, day: date) -> bool:
        return day.weekday() not in self.weekend and day not in self.holidays

    def shifted_day(self, day: date) -> date:
        """`day` if it is a business day, else the nearest one in the direction of `move`
        (`day` itself when none is within MAX_SHIFT_DAYS)."""
        step = timedelta(days=-1 if self.move == "previous" else 1)
        candidate = day
        for _ in range(MAX_SHIFT_DAYS + 1):
            if self.is_business_day(candidate):
                return candidate
            candidate += step
        return day

    def normalised(self) -> dict[str, Any]:
        normal: dict[str, Any] = {"country": self.country, "move": self.move}
        if self.subdivision:
            normal["subdivision"] = self.subdivision
        normal["weekend"] = sorted(self.weekend)
        normal["holidays"] = [day.isoformat() for day in sorted(self.holidays)]
        return normal


def parse(raw: Any, years: range | None) -> BusinessDays:
    """The option from a caller (holidays looked up for `years`) or from a stored schedule
    (`years` None: its stored weekend and holidays are used as they are)."""
    field = "schedule.business_days"
    if not isinstance(raw, dict) or not isinstance(raw.get("country"), str):
        raise BusinessDaysError(f"{field}: expected an object with a 'country' such as 'GB'")
    for name in sorted(raw.keys() - _FIELDS):
        raise BusinessDaysError(f"{field}.{name}: not a field of business_days")
    move = raw.get("move", "previous")
    if move not in MOVES:
        raise BusinessDaysError(f"{field}.move: must be 'previous' or 'next'")
    country = raw["country"].strip().upper()
    subdivision = raw.get("subdivision")
    if subdivision is not None and not isinstance(subdivision, str):
        raise BusinessDaysError(f"{field}.subdivision: expected a string such as 'ENG'")
    subdivision = subdivision.strip().upper() if subdivision else None
    if years is not None:
        weekend, holidays = _calendar(country, subdivision, years)
    else:
        weekend, holidays = _stored(raw)
    return BusinessDays(country, subdivision, move, weekend, holidays)


def is_supported_country(code: str) -> bool:
    """Whether `code` is an ISO 3166 alpha-2 code (what a business stores) the holidays
    package has a calendar for (the API's side only: imports the package)."""
    import holidays

    return len(code) == 2 and code.isalpha() and code in holidays.list_supported_countries()


def _calendar(
    country: str, subdivision: str | None, years: range
) -> tuple[frozenset[int], frozenset[date]]:
    import holidays  # the API's side only: the workflow reads the stored dates

    field = "schedule.business_days"
    if not is_supported_country(country):
        raise BusinessDaysError(
            f"{field}.country: {country[:20]!r} is not a supported two-letter country code"
        )
    try:
        calendar = holidays.country_holidays(country, subdiv=subdivision, years=list(years))
    except NotImplementedError:
        raise BusinessDaysError(
            f"{field}.subdivision: {(subdivision or '')[:20]!r} is not a subdivision of {country}"
        ) from None
    weekend = frozenset(getattr(calendar, "weekend", {5, 6}))
    return weekend, frozenset(calendar.keys())


def _stored(raw: dict[str, Any]) -> tuple[frozenset[int], frozenset[date]]:
    try:
        weekend = frozenset(int(day) for day in raw.get("weekend", [5, 6]))
        holidays = frozenset(date.fromisoformat(day) for day in raw.get("holidays", []))
    except (TypeError, ValueError):
        raise BusinessDaysError(
            "schedule.business_days: its stored calendar is not readable"
        ) from None
    return weekend, holidays


def years_from(first: datetime, last: datetime | None) -> range:
    """The years whose holidays a schedule from `first` to `last` (None: no end) needs,
    with a year of margin on each side for days moved across a new year."""
    end = last.year if last is not None else first.year + YEARS_AHEAD
    return range(first.year - 1, min(end, first.year + YEARS_AHEAD) + 2)


def moved_to_business_day(at: datetime, days: BusinessDays, zone: ZoneInfo) -> datetime:
    """The instant moved to the business day its local day moves to, same local time."""
    local = local_time(at, zone)
    day = days.shifted_day(local.date())
    if day == local.date():
        return at
    return to_utc(datetime.combine(day, local.time()), zone)


def first_source(after: datetime, days: BusinessDays, zone: ZoneInfo) -> datetime:
    """From where the rule's instants can move past `after`: with `previous` only later
    ones (a time moves earlier); with `next` also those of the days off just before it,
    back to the last business day before `after`'s local day."""
    if days.move == "previous":
        return after
    day = local_time(after, zone).date()
    for _ in range(MAX_SHIFT_DAYS + 1):
        if days.is_business_day(day):
            # Its midnight, less a margin for the day's DST change.
            return to_utc(datetime.combine(day, time()), zone) - timedelta(hours=2)
        day -= timedelta(days=1)
    return after - timedelta(days=MAX_SHIFT_DAYS + 1)


def moved_in_order(
    instants: Iterable[datetime], days: BusinessDays, zone: ZoneInfo
) -> Iterator[datetime]:
    """Ascending rule instants moved to business days, ascending and without repeats.

    A moved time is held back only until no later one can come before it. With `next`
    nothing later moves before the rule's current instant. With `previous`, once the rule
    reaches an instant that stays where it is, nothing later moves before that local day
    (it would have to skip the day, or a day with no business day in reach)."""
    pending: list[datetime] = []
    last = None
    for at in chain(instants, [None]):  # None: the end, release what is left
        floor = None
        if at is not None:
            moved = moved_to_business_day(at, days, zone)
            heapq.heappush(pending, moved)
            if days.move == "next":
                floor = at
            elif moved == at:  # a margin for the day's DST change
                floor = to_utc(datetime.combine(local_time(at, zone).date(), time()), zone)
                floor -= timedelta(hours=2)
        while pending and (at is None or (floor is not None and pending[0] <= floor)):
            earliest = heapq.heappop(pending)
            if earliest != last:
                yield earliest
            last = earliest
