"""The schedule maths: examples around DST changes, validation, and properties over many zones."""

from __future__ import annotations

import re
import time as clock
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from dateutil.rrule import rrulestr
from hypothesis import HealthCheck, given, reject, settings
from hypothesis import strategies as st

from workflows.schedule import (
    Occurrence,
    ScheduleError,
    due_at,
    next_occurrence,
    occurrences,
    validate_schedule,
)

LONDON, NEW_YORK = "Europe/London", "America/New_York"
ZONES = [
    "Europe/London",
    "America/New_York",
    "Australia/Sydney",
    "Pacific/Chatham",
    "America/Sao_Paulo",
    "Asia/Kolkata",
    "UTC",
    "Europe/Berlin",
]


def recurring(rrule: str, start: str, timezone: str, **bounds: Any) -> dict[str, Any]:
    raw = {"kind": "recurring", "rrule": rrule, "start": start, **bounds}
    return validate_schedule(raw, timezone)


def local(occurrence: Occurrence, timezone: str) -> datetime:
    return occurrence.at.astimezone(ZoneInfo(timezone)).replace(tzinfo=None)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


# ---- examples --------------------------------------------------------------------------------


def test_monthly_rule_stays_at_nine_local_in_winter_and_summer() -> None:
    schedule = recurring("FREQ=MONTHLY;BYMONTHDAY=15;BYHOUR=9", "2026-01-01T00:00:00Z", LONDON)
    year = [o for o in occurrences(schedule, LONDON, limit=20) if o.at.year == 2026]
    assert len(year) == 12
    assert {local(o, LONDON).time() for o in year} == {time(9)}
    assert [o.at.hour for o in year] == [9, 9, 9, 8, 8, 8, 8, 8, 8, 8, 9, 9]
    assert year[0].key == "2026-01-15T09:00:00Z"
    assert year[0].at == datetime(2026, 1, 15, 9, tzinfo=UTC)


def test_time_in_spring_forward_gap_fires_once_shifted_by_the_gap() -> None:
    schedule = recurring("FREQ=DAILY;BYHOUR=2;BYMINUTE=30", "2026-03-06T00:00:00-05:00", NEW_YORK)
    walls = [local(o, NEW_YORK) for o in occurrences(schedule, NEW_YORK, limit=4)]
    assert walls == [
        datetime(2026, 3, 6, 2, 30),
        datetime(2026, 3, 7, 2, 30),
        datetime(2026, 3, 8, 3, 30),  # 02:30 does not exist that day
        datetime(2026, 3, 9, 2, 30),
    ]


def test_repeated_time_in_fall_back_overlap_fires_once_at_first_instance() -> None:
    schedule = recurring("FREQ=DAILY;BYHOUR=1;BYMINUTE=30", "2026-10-31T00:00:00-04:00", NEW_YORK)
    found = occurrences(schedule, NEW_YORK, limit=3)
    assert [o.key for o in found] == [
        "2026-10-31T05:30:00Z",
        "2026-11-01T05:30:00Z",  # 01:30 EDT, not the 01:30 EST an hour later
        "2026-11-02T06:30:00Z",
    ]
    after_first = next_occurrence(schedule, NEW_YORK, utc("2026-11-01T05:30:00Z"))
    assert after_first == found[2]


def test_nothing_fires_before_a_start_in_the_second_instance_of_a_repeated_hour() -> None:
    # Start at the second 01:30 (EST); that day's 01:30 fires at the first (EDT): too early.
    schedule = recurring("FREQ=DAILY", "2026-11-01T01:30:00-05:00", NEW_YORK)
    first = next_occurrence(schedule, NEW_YORK, None)
    assert first is not None
    assert first.key == "2026-11-02T06:30:00Z"


def test_hourly_rule_does_not_fire_twice_when_gap_shifts_onto_next_hour() -> None:
    schedule = recurring("FREQ=HOURLY;BYMINUTE=30", "2026-03-08T00:00:00-05:00", NEW_YORK, count=4)
    keys = [o.key for o in occurrences(schedule, NEW_YORK)]
    # Local 02:30 becomes 03:30, which the rule fires anyway: once, and counted once.
    assert keys == [
        "2026-03-08T05:30:00Z",
        "2026-03-08T06:30:00Z",
        "2026-03-08T07:30:00Z",
        "2026-03-08T08:30:00Z",
    ]


def test_times_shifted_past_later_ones_come_out_in_order_and_once() -> None:
    schedule = recurring(
        "FREQ=DAILY;BYHOUR=2,3;BYMINUTE=0,30", "2026-03-08T00:00:00-05:00", NEW_YORK
    )
    walls = [local(o, NEW_YORK) for o in occurrences(schedule, NEW_YORK, limit=3)]
    # 02:00 and 02:30 do not exist: they become 03:00 and 03:30, which fire anyway.
    assert walls == [datetime(2026, 3, 8, 3), datetime(2026, 3, 8, 3, 30), datetime(2026, 3, 9, 2)]


def test_next_occurrence_after_a_moment_inside_the_shift_finds_the_shifted_time() -> None:
    # Started at 02:45 local: a search that skips ahead must not start at 02:45 that day.
    schedule = recurring("FREQ=DAILY;BYHOUR=2;BYMINUTE=30", "2026-01-01T02:45:00-05:00", NEW_YORK)
    # 03:15 EDT: later on the wall clock than 02:30, earlier than the 03:30 it fires at.
    found = next_occurrence(schedule, NEW_YORK, utc("2026-03-08T03:15:00-04:00"))
    assert found is not None
    assert found.key == "2026-03-08T07:30:00Z"


def test_count_field_and_count_in_rule_are_the_same() -> None:
    by_field = recurring("FREQ=WEEKLY;BYDAY=MO,TH", "2026-01-01T09:00:00Z", LONDON, count=5)
    in_rule = recurring("FREQ=WEEKLY;BYDAY=MO,TH;COUNT=5", "2026-01-01T09:00:00Z", LONDON)
    assert occurrences(by_field, LONDON) == occurrences(in_rule, LONDON)
    assert len(occurrences(by_field, LONDON)) == 5
    last = occurrences(by_field, LONDON)[-1]
    assert next_occurrence(by_field, LONDON, last.at) is None


@pytest.mark.parametrize(
    ("rrule", "until"),
    [
        ("FREQ=DAILY", "2026-01-05T09:00:00Z"),  # inclusive
        ("FREQ=DAILY;UNTIL=20260105T090000Z", None),
        ("FREQ=DAILY;UNTIL=20260105T090000", None),  # local time in the reminder's zone
        ("FREQ=DAILY;UNTIL=20260105", None),  # through the end of that local day
    ],
)
def test_until_is_inclusive_in_every_form(rrule: str, until: str | None) -> None:
    bounds = {"until": until} if until else {}
    schedule = recurring(rrule, "2026-01-01T09:00:00Z", LONDON, **bounds)
    found = occurrences(schedule, LONDON)
    assert [o.at.day for o in found] == [1, 2, 3, 4, 5]


def test_once_fires_once_and_not_after_its_time() -> None:
    schedule = validate_schedule({"kind": "once", "at": "2026-12-01T09:00:00Z"}, LONDON)
    assert schedule == {"kind": "once", "at": "2026-12-01T09:00:00+00:00"}
    first = next_occurrence(schedule, LONDON, None)
    assert first == Occurrence("2026-12-01T09:00:00Z", datetime(2026, 12, 1, 9, tzinfo=UTC))
    assert next_occurrence(schedule, LONDON, utc("2026-11-30T09:00:00Z")) == first
    assert next_occurrence(schedule, LONDON, utc("2026-12-01T09:00:00Z")) is None
    assert next_occurrence(schedule, LONDON, utc("2027-01-01T00:00:00Z")) is None


def test_skipping_ahead_agrees_with_walking_from_start_for_setpos() -> None:
    last_weekday = recurring(
        "FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1;BYHOUR=17", "2026-01-01T09:00:00Z", LONDON
    )
    after = utc("2031-05-20T12:00:00Z")
    walked = [o for o in occurrences(last_weekday, LONDON, limit=100) if o.at > after]
    assert walked[0].key == "2031-05-30T16:00:00Z"  # Friday; the 31st is a Saturday
    assert occurrences(last_weekday, LONDON, after, limit=3) == walked[:3]


def test_a_day_no_year_has_is_refused_quickly() -> None:
    for freq in ("HOURLY", "DAILY", "WEEKLY", "MONTHLY", "YEARLY"):
        began = clock.perf_counter()
        with pytest.raises(ScheduleError, match="yields no occurrence"):
            recurring(f"FREQ={freq};BYMONTH=2;BYMONTHDAY=30", START, LONDON)
        # Walking DAILY or HOURLY to the year 9999 would take seconds.
        assert clock.perf_counter() - began < 1.5


def test_deadline_date_offsets_keep_local_wall_time_across_dst() -> None:
    # Due 09:00 BST; a week and a month earlier are 09:00 GMT.
    schedule = validate_schedule(
        {"kind": "deadline", "due_at": "2026-04-01T09:00:00+01:00", "offsets": ["-P1M", "-P7D"]},
        LONDON,
    )
    walls = [local(o, LONDON) for o in occurrences(schedule, LONDON)]
    assert walls == [datetime(2026, 3, 1, 9), datetime(2026, 3, 25, 9)]
    assert [o.at.hour for o in occurrences(schedule, LONDON)] == [9, 9]


def test_deadline_time_offsets_are_elapsed_time_across_dst() -> None:
    schedule = validate_schedule(
        {"kind": "deadline", "due_at": "2026-03-29T09:00:00+01:00", "offsets": ["-PT12H"]},
        LONDON,
    )
    [only] = occurrences(schedule, LONDON)
    assert only.at == utc("2026-03-29T09:00:00+01:00") - timedelta(hours=12)
    assert local(only, LONDON) == datetime(2026, 3, 28, 20)  # not 21:00: the clocks moved


def test_deadline_due_in_the_repeated_hour_keeps_its_instant() -> None:
    # The second 01:30 of the night the clocks go back in New York.
    schedule = validate_schedule(
        {"kind": "deadline", "due_at": "2026-11-01T01:30:00-05:00", "offsets": ["PT0S", "-PT1H"]},
        NEW_YORK,
    )
    keys = [o.key for o in occurrences(schedule, NEW_YORK)]
    assert keys == ["2026-11-01T05:30:00Z", "2026-11-01T06:30:00Z"]


def test_deadline_offsets_on_same_instant_fire_once_in_order() -> None:
    schedule = validate_schedule(
        {
            "kind": "deadline",
            "due_at": "2026-06-10T09:00:00+01:00",
            "offsets": ["PT0S", "-PT24H", "-P1D", "P1D", "-P0D"],
        },
        LONDON,
    )
    assert [o.key for o in occurrences(schedule, LONDON)] == [
        "2026-06-09T08:00:00Z",
        "2026-06-10T08:00:00Z",
        "2026-06-11T08:00:00Z",  # after the due time: an overdue nudge
    ]
    assert next_occurrence(schedule, LONDON, utc("2026-06-11T08:00:00Z")) is None


def test_due_at_of_each_kind() -> None:
    deadline = {"kind": "deadline", "due_at": "2026-06-10T09:00:00+01:00", "offsets": ["-P1D"]}
    assert due_at(deadline) == datetime(2026, 6, 10, 8, tzinfo=UTC)
    assert due_at({"kind": "once", "at": "2026-06-10T09:00:00Z"}) == utc("2026-06-10T09:00:00Z")
    assert due_at(recurring("FREQ=DAILY", "2026-01-01T09:00:00Z", LONDON)) is None


def test_validate_normalises() -> None:
    schedule = recurring(
        " rrule:freq=daily;byhour=9; ",
        "2026-01-01T09:00:00.123456Z",
        LONDON,
        until="2026-02-01T00:00:00-05:00",
    )
    assert schedule == {
        "kind": "recurring",
        "rrule": "FREQ=DAILY;BYHOUR=9",
        "start": "2026-01-01T09:00:00+00:00",
        "until": "2026-02-01T00:00:00-05:00",
    }
    deadline = validate_schedule(
        {
            "kind": "deadline",
            "due_at": "2026-06-10T09:00:00Z",
            "offsets": ["+p7d", "-P0Y1WT0H", "-PT0S", "-P1DT2H30M"],
        },
        LONDON,
    )
    assert deadline["offsets"] == ["P7D", "-P1W", "PT0S", "-P1DT2H30M"]
    assert validate_schedule(schedule, LONDON) == schedule  # normalising twice changes nothing


def test_infinite_rule_answers_quickly_centuries_after_start() -> None:
    schedule = recurring("FREQ=HOURLY;INTERVAL=7;BYMINUTE=15", "1900-01-01T00:00:00Z", LONDON)
    after = utc("2800-05-01T03:17:00Z")
    timings = []
    for _ in range(3):  # the best of three, so a busy machine does not fail the test
        began = clock.perf_counter()
        found = next_occurrence(schedule, LONDON, after)
        timings.append(clock.perf_counter() - began)
    # Walking from 1900 would take seconds.
    assert min(timings) < 0.2
    assert found is not None
    assert found.at > after


def test_skipping_ahead_stays_on_the_rule_grid() -> None:
    schedule = recurring("FREQ=HOURLY;INTERVAL=7;BYMINUTE=15", "2026-01-01T00:00:00Z", NEW_YORK)
    after = utc("2096-05-01T03:17:00Z")
    # Plain dateutil from the start, read in local time (no DST change near that moment).
    rule = rrulestr("FREQ=HOURLY;INTERVAL=7;BYMINUTE=15", dtstart=datetime(2025, 12, 31, 19))
    expected = rule.after(after.astimezone(ZoneInfo(NEW_YORK)).replace(tzinfo=None))
    found = next_occurrence(schedule, NEW_YORK, after)
    assert found is not None
    assert local(found, NEW_YORK) == expected


def test_skipping_ahead_keeps_the_day_taken_from_start() -> None:
    # Day 31 comes from `start`: months without one are skipped, years later too.
    monthly = recurring("FREQ=MONTHLY", "2026-01-31T10:00:00Z", LONDON)
    found = next_occurrence(monthly, LONDON, utc("2040-02-01T00:00:00Z"))
    assert found is not None
    assert found.key == "2040-03-31T09:00:00Z"
    leap_day = recurring("FREQ=YEARLY", "2028-02-29T12:00:00Z", LONDON)
    found = next_occurrence(leap_day, LONDON, utc("2097-01-01T00:00:00Z"))
    assert found is not None
    assert found.key == "2104-02-29T12:00:00Z"


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("daily", "schedule: expected an object"),
        ({}, "schedule.kind: required"),
        ({"kind": "weekly"}, "schedule.kind: 'weekly' is not one of"),
        ({"kind": "once"}, "schedule.at: required"),
        (
            {"kind": "once", "at": "2026-12-01T09:00:00"},
            "schedule.at: '2026-12-01T09:00:00' needs a UTC offset",
        ),
        (
            {"kind": "once", "at": "tomorrow"},
            "schedule.at: 'tomorrow' is not an ISO 8601 date-time",
        ),
        ({"kind": "once", "at": 1764579600}, "schedule.at: expected an ISO 8601 date-time string"),
        ({"kind": "once", "at": "0999-01-01T00:00:00Z"}, "schedule.at: must be between"),
        (
            {"kind": "once", "at": "2026-12-01T09:00:00Z", "every": 2},
            "schedule.every: not a field of a 'once' schedule",
        ),
        ({"kind": "recurring", "start": "2026-01-01T09:00:00Z"}, "schedule.rrule: required"),
        ({"kind": "recurring", "rrule": "FREQ=DAILY"}, "schedule.start: required"),
        (
            {"kind": "recurring", "rrule": 7, "start": "2026-01-01T09:00:00Z"},
            "schedule.rrule: expected a string",
        ),
    ],
)
def test_invalid_schedule_names_the_field(raw: Any, message: str) -> None:
    with pytest.raises(ScheduleError, match="^" + re.escape(message)):
        validate_schedule(raw, LONDON)


START = "2026-01-01T09:00:00Z"


@pytest.mark.parametrize(
    ("rrule", "bounds", "message"),
    [
        ("FREQ=SECONDLY", {}, "schedule.rrule: FREQ=SECONDLY is not allowed"),
        ("FREQ=MINUTELY;INTERVAL=30", {}, "schedule.rrule: FREQ=MINUTELY is not allowed"),
        ("BYHOUR=9", {}, "schedule.rrule: FREQ must be one of"),
        ("FREQ=FORTNIGHTLY", {}, "schedule.rrule: FREQ must be one of"),
        (
            "DTSTART:20260101T090000Z\nRRULE:FREQ=DAILY",
            {},
            "schedule.rrule: DTSTART and TZID are not allowed",
        ),
        ("FREQ=DAILY;TZID=Europe/Paris", {}, "schedule.rrule: DTSTART and TZID are not allowed"),
        ("EXDATE:20260102T090000Z", {}, "schedule.rrule: give one RRULE"),
        ("FREQ=DAILY;BYEASTER=0", {}, "schedule.rrule: BYEASTER is not supported"),
        ("FREQ=DAILY;FREQ=WEEKLY", {}, "schedule.rrule: FREQ is given twice"),
        ("FREQ=DAILY;BYHOUR", {}, "schedule.rrule: 'BYHOUR' is not NAME=VALUE"),
        ("FREQ=DAILY;BYHOUR=24", {}, "schedule.rrule: BYHOUR=24 is not in 0 to 23"),
        ("FREQ=DAILY;BYHOUR=9am", {}, "schedule.rrule: BYHOUR=9AM is not a list of numbers"),
        ("FREQ=DAILY;INTERVAL=0", {}, "schedule.rrule: INTERVAL=0 is not in 1 to 1000"),
        ("FREQ=WEEKLY;BYDAY=MONDAY", {}, "schedule.rrule: BYDAY=MONDAY is not a day"),
        ("FREQ=WEEKLY;BYDAY=1MO", {}, "schedule.rrule: BYDAY=1MO takes a number only with"),
        ("FREQ=WEEKLY;BYDAY=MO,FR;BYSETPOS=1", {}, "schedule.rrule: BYSETPOS is supported with"),
        ("FREQ=DAILY;WKST=XX", {}, "schedule.rrule: WKST=XX is not a day"),
        ("FREQ=HOURLY;BYMINUTE=0,30", {}, "schedule.rrule: fires up to 48 times a day"),
        (
            "FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30",
            {},
            "schedule.rrule: the rule yields no occurrence in the 100 years",
        ),
        (
            "FREQ=YEARLY;BYMONTH=6",
            {"until": "2026-03-01T00:00:00Z"},
            "schedule.rrule: the rule yields no occurrence between",
        ),
        ("FREQ=DAILY;COUNT=0", {}, "schedule.rrule: COUNT: must be a whole number from 1 to 10000"),
        ("FREQ=DAILY", {"count": 10001}, "schedule.count: must be a whole number from 1 to 10000"),
        ("FREQ=DAILY", {"count": True}, "schedule.count: must be a whole number"),
        ("FREQ=DAILY;COUNT=3", {"count": 3}, "schedule.count: COUNT is also in schedule.rrule"),
        (
            "FREQ=DAILY;UNTIL=20270101",
            {"until": "2027-01-01T00:00:00Z"},
            "schedule.until: UNTIL is also in schedule.rrule",
        ),
        (
            "FREQ=DAILY",
            {"until": "2025-01-01T00:00:00Z"},
            "schedule.until: is before schedule.start",
        ),
        ("FREQ=DAILY;UNTIL=20250101", {}, "schedule.rrule: UNTIL: is before schedule.start"),
        ("FREQ=DAILY;UNTIL=2027", {}, "schedule.rrule: UNTIL=2027 is not a date"),
        (
            "FREQ=DAILY",
            {"until": "2027-01-01"},
            "schedule.until: '2027-01-01T00:00:00' needs a UTC offset",
        ),
    ],
)
def test_invalid_rule_is_refused_with_a_reason(
    rrule: str, bounds: dict[str, Any], message: str
) -> None:
    with pytest.raises(ScheduleError, match="^" + re.escape(message)):
        recurring(rrule, START, LONDON, **bounds)


@pytest.mark.parametrize(
    ("offsets", "message"),
    [
        ([], "schedule.offsets: expected a list of 1 to 50"),
        ("-P1D", "schedule.offsets: expected a list"),
        (["-P1D"] * 51, "schedule.offsets: expected a list of 1 to 50"),
        (["-P1D", "P1X"], "schedule.offsets[1]: 'P1X' is not an ISO 8601 duration"),
        (["P"], "schedule.offsets[0]: 'P' is not an ISO 8601 duration"),
        (["PT"], "schedule.offsets[0]: 'PT' is not an ISO 8601 duration"),
        (["P1DT"], "schedule.offsets[0]: 'P1DT' is not an ISO 8601 duration"),
        (["-P1.5D"], "schedule.offsets[0]: '-P1.5D' is not an ISO 8601 duration"),
        (["P1H"], "schedule.offsets[0]: 'P1H' is not an ISO 8601 duration"),
        ([7], "schedule.offsets[0]: 7 is not an ISO 8601 duration"),
        (["P999999Y"], "schedule.offsets[0]: 'P999999Y' moves the due time out of 1900-9000"),
    ],
)
def test_invalid_deadline_offsets_are_refused(offsets: Any, message: str) -> None:
    raw = {"kind": "deadline", "due_at": "2026-06-10T09:00:00Z", "offsets": offsets}
    with pytest.raises(ScheduleError, match="^" + re.escape(message)):
        validate_schedule(raw, LONDON)


def test_unknown_time_zone_is_a_schedule_error() -> None:
    with pytest.raises(ScheduleError, match="^timezone: 'Mars/Olympus' is not an IANA"):
        validate_schedule({"kind": "once", "at": START}, "Mars/Olympus")


# ---- properties ------------------------------------------------------------------------------


@cache
def transitions(timezone: str) -> list[datetime]:
    """The zone's offset changes in 2015-2035, to the hour, as UTC instants."""
    zone, found = ZoneInfo(timezone), []
    at = datetime(2015, 1, 1, tzinfo=UTC)
    while at.year < 2036:
        nxt = at + timedelta(days=1)
        if at.astimezone(zone).utcoffset() != nxt.astimezone(zone).utcoffset():
            hour = at
            while hour.astimezone(zone).utcoffset() == at.astimezone(zone).utcoffset():
                hour += timedelta(hours=1)
            found.append(hour)
        at = nxt
    return found


@st.composite
def starts(draw: st.DrawFn, timezone: str) -> datetime:
    """Often up to three days before one of the zone's DST changes, else any time."""
    changes = transitions(timezone)
    if changes and draw(st.booleans()):
        change = draw(st.sampled_from(changes))
        return change - timedelta(minutes=draw(st.integers(0, 3 * 24 * 60)))
    base = datetime(2015, 1, 1, tzinfo=UTC)
    return base + timedelta(minutes=draw(st.integers(0, 20 * 365 * 24 * 60)))


# Per frequency, parts to combine with; gap hours (01:00-03:00) come up often.
EXTRAS = {
    "HOURLY": ["", "BYHOUR=0,1,2,3,4,5,22,23", "BYDAY=SA,SU"],
    "DAILY": ["", "BYDAY=MO,TU,WE,TH,FR", "BYMONTH=3,4,10,11", "BYMONTHDAY=1,-1"],
    "WEEKLY": ["", "BYDAY=MO,TH", "BYDAY=SU,MO,WE,FR;BYMONTH=3,10", "BYDAY=SA,SU;WKST=SU"],
    "MONTHLY": ["", "BYMONTHDAY=1,15", "BYMONTHDAY=-1", "BYDAY=-1FR", "BYDAY=MO,FR;BYSETPOS=2,-1"],
    "YEARLY": ["", "BYMONTH=3,10;BYDAY=-1SU", "BYWEEKNO=1,13;BYDAY=TH", "BYYEARDAY=1,-1"],
}


@st.composite
def rules(draw: st.DrawFn) -> str:
    freq = draw(st.sampled_from(list(EXTRAS)))
    parts = [
        f"FREQ={freq}",
        f"INTERVAL={draw(st.integers(1, 3))}",
        draw(st.sampled_from(EXTRAS[freq])),
    ]
    if freq != "HOURLY" and draw(st.booleans()):
        hour = st.integers(0, 23) | st.sampled_from([1, 2, 3])
        hours = draw(st.lists(hour, min_size=1, max_size=3, unique=True))
        parts.append("BYHOUR=" + ",".join(map(str, hours)))
    if draw(st.booleans()):
        most = 1 if freq == "HOURLY" else 2  # two, as 02:00 and 02:30 shift past 03:00
        minutes = draw(
            st.lists(st.sampled_from([0, 30, 15, 45, 7]), min_size=1, max_size=most, unique=True)
        )
        parts.append("BYMINUTE=" + ",".join(map(str, minutes)))
    return ";".join(part for part in parts if part)


@st.composite
def schedules(draw: st.DrawFn) -> tuple[dict[str, Any], str, datetime]:
    timezone = draw(st.sampled_from(ZONES))
    start = draw(starts(timezone))
    bounds: dict[str, Any] = {}
    if draw(st.integers(0, 3)) == 0:
        bounds["count"] = draw(st.integers(1, 40))
    elif draw(st.integers(0, 2)) == 0:
        bounds["until"] = (start + timedelta(hours=draw(st.integers(0, 24 * 400)))).isoformat()
    try:
        schedule = recurring(draw(rules()), start.isoformat(), timezone, **bounds)
    except ScheduleError as exc:  # an `until` too close for the rule to fire at all
        if "yields no occurrence" not in str(exc):
            raise
        reject()
    return schedule, timezone, start


PROPERTY = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(schedules())
def test_occurrences_increase_and_respect_start_until_and_count(case: Any) -> None:
    schedule, timezone, start = case
    found = occurrences(schedule, timezone, limit=60)
    ats = [o.at for o in found]
    assert all(a < b for a, b in zip(ats, ats[1:], strict=False))
    assert all(at >= start for at in ats)
    assert all(o.key == o.at.strftime("%Y-%m-%dT%H:%M:%SZ") for o in found)
    if "until" in schedule:
        assert all(at <= utc(schedule["until"]) for at in ats)
    if "count" in schedule:
        assert len(found) == schedule["count"]


@PROPERTY
@given(schedules())
def test_stepping_with_next_occurrence_gives_the_same_sequence(case: Any) -> None:
    schedule, timezone, _ = case
    expected = occurrences(schedule, timezone, limit=30)
    stepped: list[Occurrence] = []
    after = None
    while len(stepped) < 30 and (found := next_occurrence(schedule, timezone, after)):
        stepped.append(found)
        after = found.at
    assert stepped == expected


@PROPERTY
@given(schedules(), st.data())
def test_next_occurrence_is_the_first_one_after(case: Any, data: st.DataObject) -> None:
    schedule, timezone, start = case
    every = occurrences(schedule, timezone, limit=2000)
    if every and data.draw(st.booleans()):  # just before or at an occurrence
        near = data.draw(st.sampled_from(every)).at
        after = near - timedelta(seconds=data.draw(st.integers(0, 3 * 3600)))
    else:  # anywhere in the first years (the first weeks for HOURLY: brute force below)
        span = 24 * (60 if "HOURLY" in schedule["rrule"] else 4 * 365)
        after = start + timedelta(
            hours=data.draw(st.integers(-24, span)), seconds=data.draw(st.integers(0, 3599))
        )
    later = [o for o in every if o.at > after]
    found = next_occurrence(schedule, timezone, after)
    if later:
        assert found == later[0]
        assert occurrences(schedule, timezone, after, limit=5) == later[:5]
    elif len(every) < 2000:
        assert found is None
    if found is not None:
        assert found.at > after


def expected_wall(day: date, at: time, zone: ZoneInfo) -> datetime:
    """The rule's time that day, or pushed forward by the gap when it does not exist."""
    wall = datetime.combine(day, at)
    first = wall.replace(tzinfo=zone)
    if first.astimezone(UTC).astimezone(zone).replace(tzinfo=None) == wall:
        return wall
    gap = wall.replace(tzinfo=zone, fold=1).utcoffset() - first.utcoffset()  # type: ignore[operator]
    return wall + gap


@PROPERTY
@given(
    st.sampled_from(ZONES).flatmap(lambda tz: st.tuples(st.just(tz), starts(tz))),
    st.integers(0, 23),
    st.sampled_from([0, 1, 15, 30, 45, 59]),
)
def test_daily_rule_fires_once_every_local_day(zone_start: Any, hour: int, minute: int) -> None:
    timezone, start = zone_start
    zone = ZoneInfo(timezone)
    schedule = recurring(
        f"FREQ=DAILY;BYHOUR={hour};BYMINUTE={minute};BYSECOND=0", start.isoformat(), timezone
    )
    found = occurrences(schedule, timezone, limit=8)
    days = [local(o, timezone).date() for o in found]
    assert days == [days[0] + timedelta(days=i) for i in range(8)]
    for day, occurrence in zip(days, found, strict=True):
        assert local(occurrence, timezone) == expected_wall(day, time(hour, minute), zone)


# ---- exclusions (EXDATE) ----------------------------------------------------------------------


def test_an_excluded_day_skips_its_occurrence_and_the_next_day_fires() -> None:
    schedule = recurring(
        "FREQ=DAILY;BYHOUR=9",
        "2026-12-23T00:00:00Z",
        LONDON,
        exdates=["2026-12-25", "2026-12-26"],
    )
    days = [local(o, LONDON).date() for o in occurrences(schedule, LONDON, limit=4)]
    assert days == [date(2026, 12, 23), date(2026, 12, 24), date(2026, 12, 27), date(2026, 12, 28)]
    following = next_occurrence(schedule, LONDON, utc("2026-12-24T12:00:00+00:00"))
    assert following is not None
    assert local(following, LONDON) == datetime(2026, 12, 27, 9)


def test_an_excluded_day_is_the_reminders_local_day_not_utcs() -> None:
    # 09:00 in Sydney on 25 December is 22:00 UTC on the 24th.
    schedule = recurring(
        "FREQ=DAILY;BYHOUR=9", "2026-12-23T00:00:00Z", "Australia/Sydney", exdates=["2026-12-25"]
    )
    days = [
        local(o, "Australia/Sydney").date()
        for o in occurrences(schedule, "Australia/Sydney", limit=3)
    ]
    assert date(2026, 12, 25) not in days
    assert date(2026, 12, 24) in days


def test_an_excluded_instant_skips_only_that_occurrence() -> None:
    schedule = recurring(
        "FREQ=DAILY;BYHOUR=9,17",
        "2026-03-02T00:00:00Z",
        LONDON,
        exdates=["2026-03-02T17:00:00+00:00"],
    )
    fired = [local(o, LONDON) for o in occurrences(schedule, LONDON, limit=3)]
    assert fired == [datetime(2026, 3, 2, 9), datetime(2026, 3, 3, 9), datetime(2026, 3, 3, 17)]


def test_an_excluded_occurrence_still_counts_toward_count() -> None:
    schedule = recurring(
        "FREQ=WEEKLY;BYDAY=MO;BYHOUR=9;COUNT=3",
        "2026-03-01T00:00:00Z",
        LONDON,
        exdates=["2026-03-09"],
    )
    fired = [local(o, LONDON).date() for o in occurrences(schedule, LONDON)]
    assert fired == [date(2026, 3, 2), date(2026, 3, 16)]


def test_exdates_are_normalised_days_first_and_without_repeats() -> None:
    schedule = recurring(
        "FREQ=DAILY;BYHOUR=9",
        "2026-01-01T00:00:00Z",
        LONDON,
        exdates=["2026-02-01T10:00:00+01:00", "2026-01-05", " 2026-01-05 ", "2026-01-02"],
    )
    assert schedule["exdates"] == ["2026-01-02", "2026-01-05", "2026-02-01T09:00:00+00:00"]
    assert "exdates" not in recurring("FREQ=DAILY", "2026-01-01T00:00:00Z", LONDON)


@pytest.mark.parametrize(
    ("exdates", "message"),
    [
        ("2026-12-25", "schedule.exdates: expected a list"),
        (["2026-02-30"], "schedule.exdates[0]: '2026-02-30' is not a date"),
        (["tomorrow"], "schedule.exdates[0]: 'tomorrow' is not an ISO 8601 date-time"),
        ([3], "schedule.exdates[0]: expected an ISO 8601 date-time string"),
        (["2026-12-25T09:00:00"], "schedule.exdates[0]: '2026-12-25T09:00:00' needs a UTC offset"),
        (["0001-01-01"], "schedule.exdates[0]: must be between the years 1900 and 9000"),
        (["2026-01-01"] * 1001, "schedule.exdates: expected a list of at most 1000"),
        (
            ["2026-03-02", "2026-03-09"],
            "schedule.exdates: every occurrence of the rule is excluded",
        ),
    ],
)
def test_bad_exdates_are_refused_naming_the_entry(exdates: Any, message: str) -> None:
    with pytest.raises(ScheduleError) as refused:
        recurring(
            "FREQ=WEEKLY;BYDAY=MO;BYHOUR=9;COUNT=2", "2026-03-01T00:00:00Z", LONDON, exdates=exdates
        )
    assert str(refused.value).startswith(message)


def test_exdates_belong_to_recurring_schedules_only() -> None:
    with pytest.raises(ScheduleError, match="schedule.exdates: not a field of a 'once' schedule"):
        validate_schedule(
            {"kind": "once", "at": "2026-12-01T09:00:00Z", "exdates": ["2026-12-01"]}, LONDON
        )
