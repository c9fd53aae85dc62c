"""A recurring schedule's `exdates` (RFC 5545's EXDATE): the local days and exact instants
it skips (workflows/schedule.py says the rules). Pure."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from workflows.schedule_fields import (
    FIRST_YEAR,
    LAST_YEAR,
    ScheduleError,
    local_time,
    parse_instant,
)

MAX_EXDATES = 1000
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


@dataclass(frozen=True)
class Exdates:
    """Occurrences a recurring schedule skips: whole local days ("2026-12-25": every
    occurrence on that day in the reminder's zone) and exact instants."""

    days: frozenset[date]
    instants: frozenset[datetime]  # UTC

    def excludes(self, at: datetime, zone: ZoneInfo) -> bool:
        return at in self.instants or local_time(at, zone).date() in self.days

    def normalised(self) -> list[str]:
        days = [day.isoformat() for day in sorted(self.days)]
        return days + [at.isoformat() for at in sorted(self.instants)]


def parse_exdates(value: Any) -> Exdates:
    field = "schedule.exdates"
    if not isinstance(value, list) or len(value) > MAX_EXDATES:
        raise ScheduleError(
            f"{field}: expected a list of at most {MAX_EXDATES} dates ('2026-12-25') or "
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
            if not FIRST_YEAR <= day.year < LAST_YEAR:
                raise ScheduleError(f"{where}: must be between the years 1900 and 9000")
            days.add(day)
        else:
            instants.add(parse_instant(item, where).astimezone(UTC))
    return Exdates(frozenset(days), frozenset(instants))
