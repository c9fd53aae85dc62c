"""Business days: a fire time on a weekend or a public holiday of the schedule's country
moves to the previous (or next) business day at the same local time, computed from the
holiday dates stored with the schedule."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from workflows.schedule import ScheduleError, next_occurrence, occurrences, validate_schedule

LONDON, NEW_YORK = "Europe/London", "America/New_York"


def daily(zone: str, start: str, hours: str = "9", **business_days: Any) -> dict[str, Any]:
    raw = {
        "kind": "recurring",
        "rrule": f"FREQ=DAILY;BYHOUR={hours};BYMINUTE=30",
        "start": start,
        "business_days": business_days,
    }
    return validate_schedule(raw, zone)


def local_times(schedule: dict[str, Any], zone: str, limit: int) -> list[datetime]:
    return [
        o.at.astimezone(ZoneInfo(zone)).replace(tzinfo=None)
        for o in occurrences(schedule, zone, limit=limit)
    ]


def test_thanksgiving_moves_in_new_york_but_not_in_london() -> None:
    # Thursday 26 November 2026 is a US public holiday, not an English one.
    us = daily(NEW_YORK, "2026-11-24T00:00:00-05:00", country="US")
    gb = daily(LONDON, "2026-11-24T00:00:00Z", country="GB", subdivision="ENG")
    us_days = [t.date() for t in local_times(us, NEW_YORK, 4)]
    gb_days = [t.date() for t in local_times(gb, LONDON, 4)]
    # The holiday's message goes a day early, once; the weekend's go on Friday, once.
    assert us_days == [
        date(2026, 11, 24),
        date(2026, 11, 25),
        date(2026, 11, 27),
        date(2026, 11, 30),
    ]
    assert gb_days == [
        date(2026, 11, 24),
        date(2026, 11, 25),
        date(2026, 11, 26),
        date(2026, 11, 27),
    ]
    assert {t.time() for t in local_times(us, NEW_YORK, 10)} == {time(9, 30)}


def test_moving_on_crosses_christmas_the_weekend_and_an_observed_boxing_day() -> None:
    # Christmas 2026 is a Friday; Boxing Day falls on Saturday and is observed on Monday 28.
    schedule = validate_schedule(
        {
            "kind": "recurring",
            "rrule": "FREQ=YEARLY;BYMONTH=12;BYMONTHDAY=25;BYHOUR=9",
            "start": "2026-01-01T00:00:00Z",
            "count": 1,
            "business_days": {"country": "GB", "subdivision": "ENG", "move": "next"},
        },
        LONDON,
    )
    assert local_times(schedule, LONDON, 2) == [datetime(2026, 12, 29, 9)]


def test_a_deadline_on_a_sunday_is_chased_on_the_fridays_before() -> None:
    schedule = validate_schedule(
        {
            "kind": "deadline",
            "due_at": "2027-01-31T12:00:00Z",  # a Sunday
            "offsets": ["-P7D", "PT0S"],
            "business_days": {"country": "GB"},
        },
        LONDON,
    )
    assert local_times(schedule, LONDON, 5) == [
        datetime(2027, 1, 22, 12),
        datetime(2027, 1, 29, 12),
    ]


def test_a_stored_schedule_uses_its_own_calendar_not_the_package() -> None:
    schedule = daily(LONDON, "2026-03-02T00:00:00Z", country="GB")
    # What the workflow reads: the stored dates. A closure added to them is honoured
    # and nothing is looked up again.
    stored = {
        **schedule,
        "business_days": {**schedule["business_days"], "holidays": ["2026-03-04"]},
    }
    assert [t.day for t in local_times(stored, LONDON, 4)] == [2, 3, 5, 6]


def test_the_stored_form_names_the_calendar_and_validates_to_itself() -> None:
    schedule = daily(LONDON, "2026-03-02T00:00:00Z", country="gb", subdivision="eng")
    days = schedule["business_days"]
    assert (days["country"], days["subdivision"], days["move"]) == ("GB", "ENG", "previous")
    assert days["weekend"] == [5, 6]
    assert "2026-12-25" in days["holidays"]
    assert "2036-12-25" in days["holidays"]
    assert validate_schedule(schedule, LONDON) == schedule


def test_stepping_one_at_a_time_gives_the_same_days_as_listing_them() -> None:
    for move in ("previous", "next"):
        # Twice a day: a Saturday morning moved to Friday comes before Friday evening.
        schedule = daily(LONDON, "2026-12-01T00:00:00Z", "9,17", country="GB", move=move)
        listed = occurrences(schedule, LONDON, limit=40)
        stepped, after = [], None
        for _ in range(40):
            found = next_occurrence(schedule, LONDON, after)
            assert found is not None
            stepped.append(found)
            after = found.at
        assert stepped == listed
        assert [o.at for o in listed] == sorted({o.at for o in listed})
        assert all(o.at.astimezone(ZoneInfo(LONDON)).weekday() < 5 for o in listed)


def test_skipping_ahead_from_a_late_cursor_finds_a_moved_time_after_it() -> None:
    schedule = daily(LONDON, "2026-01-01T00:00:00Z", country="GB", move="next")
    # Saturday 5 December 2026, 10:00: the weekend's times have moved on to Monday.
    found = next_occurrence(schedule, LONDON, datetime(2026, 12, 5, 10, tzinfo=UTC))
    assert found is not None
    assert found.at == datetime(2026, 12, 7, 9, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("business_days", "message"),
    [
        ("GB", "schedule.business_days: expected an object with a 'country'"),
        ({"country": "XX"}, "schedule.business_days.country: 'XX' is not a supported two-letter"),
        ({"country": "GBR"}, "schedule.business_days.country: 'GBR' is not a supported two-"),
        (
            {"country": "GB", "subdivision": "MARS"},
            "schedule.business_days.subdivision: 'MARS' is not a subdivision of GB",
        ),
        ({"country": "GB", "move": "sideways"}, "schedule.business_days.move: must be"),
        ({"country": "GB", "days": 3}, "schedule.business_days.days: not a field"),
    ],
)
def test_bad_business_days_are_refused_naming_the_field(business_days: Any, message: str) -> None:
    with pytest.raises(ScheduleError) as refused:
        validate_schedule(
            {
                "kind": "recurring",
                "rrule": "FREQ=DAILY",
                "start": "2026-01-01T09:00:00Z",
                "business_days": business_days,
            },
            LONDON,
        )
    assert str(refused.value).startswith(message)


def test_a_once_schedule_has_no_business_days() -> None:
    with pytest.raises(ScheduleError, match="schedule.business_days: not a field of a 'once'"):
        validate_schedule(
            {"kind": "once", "at": "2026-12-25T09:00:00Z", "business_days": {"country": "GB"}},
            LONDON,
        )
