"""Reading a schedule's fields: instants, counts, ISO 8601 offsets, time zones, and the
wall-clock time of an instant in a zone (workflows/schedule.py says the rules). Pure."""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

FIRST_YEAR, LAST_YEAR = 1900, 9000
END = datetime(LAST_YEAR, 1, 1)  # local times past this are never looked at
MAX_COUNT, MAX_OFFSETS = 10_000, 50
_DURATION = re.compile(
    r"(?P<sign>[+-])?P(?:(?P<Y>\d{1,6})Y)?(?:(?P<Mo>\d{1,6})M)?(?:(?P<W>\d{1,6})W)?"
    r"(?:(?P<D>\d{1,6})D)?(?:T(?:(?P<H>\d{1,7})H)?(?:(?P<Mi>\d{1,9})M)?(?:(?P<S>\d{1,10})S)?)?"
)


class ScheduleError(ValueError):
    """A schedule the caller must fix; the message names the field and is shown as is."""


def required(raw: dict[str, Any], name: str) -> Any:
    if raw.get(name) is None:
        raise ScheduleError(f"schedule.{name}: required")
    return raw[name]


def parse_count(value: Any, field: str) -> int:
    if isinstance(value, str) and value.isdigit():
        value = int(value)  # COUNT inside the rule
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= MAX_COUNT:
        raise ScheduleError(f"{field}: must be a whole number from 1 to {MAX_COUNT}")
    return value


def parse_instant(value: Any, field: str) -> datetime:
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
    if not FIRST_YEAR <= value.year < LAST_YEAR:
        raise ScheduleError(f"{field}: must be between the years 1900 and 9000")
    return value.replace(microsecond=0)


# ---- offsets and local time ----------------------------------------------------------------


@dataclass(frozen=True)
class Offset:
    text: str  # normalised: "-P7D", "PT0S", ...
    months: int  # signed, on the local calendar
    days: int  # signed, on the local calendar
    elapsed: timedelta  # signed, exact

    def apply(self, due: datetime, zone: ZoneInfo) -> datetime:
        moved = due.astimezone(UTC)
        if self.months or self.days:  # only then: a round trip would move a time in an overlap
            moved = to_utc(
                add_months(local_time(due, zone), self.months) + timedelta(days=self.days), zone
            )
        return moved + self.elapsed


def parse_offsets(value: Any, due: datetime, zone: ZoneInfo) -> tuple[Offset, ...]:
    if not isinstance(value, list) or not 1 <= len(value) <= MAX_OFFSETS:
        raise ScheduleError(f"schedule.offsets: expected a list of 1 to {MAX_OFFSETS} durations")
    offsets = tuple(parse_offset(text, f"schedule.offsets[{i}]") for i, text in enumerate(value))
    for i, offset in enumerate(offsets):
        try:
            at: datetime | None = offset.apply(due, zone)
        except (OverflowError, ValueError):
            at = None
        if at is None or not FIRST_YEAR <= at.year < LAST_YEAR:
            raise ScheduleError(
                f"schedule.offsets[{i}]: {value[i]!r} moves the due time out of 1900-9000"
            )
    return offsets


def parse_offset(value: Any, field: str) -> Offset:
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
    return Offset(
        text=normalised if date or time else "PT0S",
        months=sign * (12 * n["Y"] + n["Mo"]),
        days=sign * (7 * n["W"] + n["D"]),
        elapsed=sign * timedelta(hours=n["H"], minutes=n["Mi"], seconds=n["S"]),
    )


def add_months(local: datetime, months: int) -> datetime:
    year, month = divmod(local.year * 12 + local.month - 1 + months, 12)
    day = min(local.day, calendar.monthrange(year, month + 1)[1])
    return local.replace(year=year, month=month + 1, day=day)


def zone_info(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (KeyError, ValueError, TypeError, OSError):  # unknown, malformed, a directory
        raise ScheduleError(f"timezone: {name!r} is not an IANA time zone") from None


def local_time(at: datetime, zone: ZoneInfo) -> datetime:
    """The naive wall-clock time of an instant in `zone`."""
    return at.astimezone(zone).replace(tzinfo=None)


def to_utc(local: datetime, zone: ZoneInfo) -> datetime:
    """fold=0 is the first of a repeated time; for a missing time it applies the offset from
    before the gap, which lands as far past the gap's end as the time was past its start."""
    return local.replace(tzinfo=zone, fold=0).astimezone(UTC)
