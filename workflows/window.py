"""The business's send window: when SMS and WhatsApp may reach a client.

Pure (no I/O, no clock): the workflow passes `workflow.now()`, so the answer replays.
A window is two local wall-clock times in the client's zone, e.g. 09:00-18:00; a start
after the end wraps midnight (20:00-02:00). The start is inclusive, the end exclusive.
A window that opens at a local time skipped by a DST change opens that much later, as the
schedule module shifts missing times (02:30 on a spring-forward night opens at 03:30).
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo


def parse_time(text: str) -> time:
    return time.fromisoformat(text)


def _inside(local: time, start: time, end: time) -> bool:
    if start < end:
        return start <= local < end
    return local >= start or local < end  # wraps midnight


def _opening(day: datetime, start: time, zone: ZoneInfo) -> datetime:
    """The instant the window opens on a local day (fold=0: the first of a repeated time;
    a missing time is shifted forward by the gap)."""
    return datetime.combine(day.date(), start).replace(tzinfo=zone, fold=0).astimezone(UTC)


def next_open(now: datetime, start: str, end: str, timezone: str) -> datetime | None:
    """None when `now` is inside the window; else the instant it next opens (UTC)."""
    zone = ZoneInfo(timezone)
    begin, finish = parse_time(start), parse_time(end)
    if begin == finish:
        return None  # refused by the API; treated as "always open" if it ever appears
    local = now.astimezone(zone)
    if _inside(local.time().replace(tzinfo=None), begin, finish):
        return None
    for days in range(3):
        candidate = _opening(local + timedelta(days=days), begin, zone)
        if candidate > now:
            return candidate
    raise AssertionError("a daily window opens within three days")  # pragma: no cover
