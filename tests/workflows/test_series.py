"""Deadlines that chase and deadline series: each message's time and the period (due time)
it belongs to, validation, and the per-client progress the workflow keeps."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from workflows.contracts import ClientDoneArgs, Target
from workflows.progress import KEPT_PERIODS, ClientProgress
from workflows.schedule import (
    ScheduleError,
    next_occurrence,
    occurrences,
    period_of,
    validate_schedule,
)

LONDON = "Europe/London"


def series(**fields: Any) -> dict[str, Any]:
    raw = {
        "kind": "deadline_series",
        "rrule": "FREQ=MONTHLY;INTERVAL=3;BYMONTHDAY=7",
        "start": "2027-01-07T09:00:00+00:00",
        "offsets": ["-P7D", "-P1D", "PT0S"],
        "chase_every": "P3D",
        "chase_until": "P9D",
        "count": 2,
    }
    return validate_schedule({**raw, **fields}, LONDON)


def local(key: str) -> tuple[int, int, int]:
    at = datetime.fromisoformat(key.replace("Z", "+00:00")).astimezone(ZoneInfo(LONDON))
    return at.month, at.day, at.hour


def test_each_quarter_is_reminded_before_its_due_day_then_chased_after_it() -> None:
    found = occurrences(series(), LONDON)

    assert [(local(o.key), local(o.period)) for o in found] == [
        *(((m, d, 9), (1, 7, 9)) for m, d in [(12, 31), (1, 6), (1, 7), (1, 10), (1, 13), (1, 16)]),
        *(((m, d, 9), (4, 7, 9)) for m, d in [(3, 31), (4, 6), (4, 7), (4, 10), (4, 13), (4, 16)]),
    ]
    # Local time holds across the DST change between the two quarters.
    assert found[0].key == "2026-12-31T09:00:00Z"
    assert found[6].key == "2027-03-31T08:00:00Z"


def test_the_search_resumes_from_any_instant_with_the_same_periods() -> None:
    schedule = series(count=None)
    every = occurrences(schedule, LONDON, limit=30)
    for before, after in zip(every, every[1:], strict=False):
        assert next_occurrence(schedule, LONDON, before.at) == after
        assert period_of(schedule, LONDON, after.key) == after.period
    assert period_of(schedule, LONDON, "2027-01-08T09:00:00Z") is None  # not a message time


def test_overlapping_periods_share_no_instant_and_stay_in_order() -> None:
    # Monthly, chased for 40 days: each period's chases run into the next period's nudges.
    schedule = series(
        rrule="FREQ=MONTHLY;BYMONTHDAY=1",
        start="2027-01-01T09:00:00+00:00",
        offsets=["-P2D"],
        chase_every="P10D",
        chase_until="P40D",
        count=3,
    )
    found = occurrences(schedule, LONDON)
    keys = [o.key for o in found]
    assert keys == sorted(set(keys))
    assert {o.period for o in found} == {
        "2027-01-01T09:00:00Z",
        "2027-02-01T09:00:00Z",
        "2027-03-01T09:00:00Z",
    }
    assert [o.period for o in found].count("2027-01-01T09:00:00Z") == 5  # -P2D and 4 chases


def test_a_single_deadline_chases_too_and_its_due_time_is_its_period() -> None:
    schedule = validate_schedule(
        {
            "kind": "deadline",
            "due_at": "2027-01-29T17:00:00Z",
            "offsets": ["-P1D"],
            "chase_every": "P1D",
            "chase_until": "P3D",
        },
        LONDON,
    )
    found = occurrences(schedule, LONDON)
    assert [o.key for o in found] == [
        "2027-01-28T17:00:00Z",
        "2027-01-30T17:00:00Z",
        "2027-01-31T17:00:00Z",
        "2027-02-01T17:00:00Z",
    ]
    assert {o.period for o in found} == {"2027-01-29T17:00:00Z"}


def test_a_recurring_occurrence_is_its_own_period() -> None:
    schedule = validate_schedule(
        {"kind": "recurring", "rrule": "FREQ=WEEKLY", "start": "2027-01-04T09:00:00Z"}, LONDON
    )
    assert all(o.period == o.key for o in occurrences(schedule, LONDON, limit=5))


def test_business_days_move_a_series_chase_off_the_weekend() -> None:
    # 2027-01-16 is a Saturday: that chase moves to Friday the 15th.
    schedule = series(business_days={"country": "GB"}, count=1)
    days = [local(o.key)[:2] for o in occurrences(schedule, LONDON)]
    assert (1, 15) in days
    assert (1, 16) not in days


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"chase_until": None}, "schedule.chase_until: required with schedule.chase_every"),
        ({"chase_every": "-P3D"}, "schedule.chase_every: must be a positive duration"),
        ({"chase_every": "PT10M"}, "schedule.chase_every: must be at least an hour"),
        ({"chase_every": "P3D", "chase_until": "P1D"}, "schedule.chase_until: must be at least"),
        ({"chase_every": "PT1H", "chase_until": "P30D"}, "more than 50 chases"),
        ({"chase_until": "P3Y"}, "schedule.chase_until: at most two years"),
        ({"offsets": []}, "schedule.offsets: expected a list of 1 to 50"),
        ({"rrule": "FREQ=SOMETIMES"}, "schedule.rrule"),
        ({"due_at": "2027-01-07T09:00:00Z"}, "not a field of a 'deadline_series' schedule"),
        ({"exdates": ["2027-01-07"], "count": 1}, "every occurrence of the rule is excluded"),
    ],
)
def test_bad_series_are_refused_with_the_field_named(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ScheduleError, match=message.replace("(", r"\(")):
        series(**fields)


def test_a_normalised_series_validates_to_itself() -> None:
    once = series(business_days={"country": "GB"}, exdates=["2027-04-07"])
    assert validate_schedule(once, LONDON)["kind"] == "deadline_series"
    assert occurrences(validate_schedule(once, LONDON), LONDON) == occurrences(once, LONDON)


# -- what the workflow keeps per period -----------------------------------------------------


def targets(*ids: str) -> list[Target]:
    return [Target(client_id=client_id, channel="email") for client_id in ids]


def test_a_client_done_gets_nothing_more_that_period_and_everything_the_next() -> None:
    progress = ClientProgress(None)
    progress.enter("2027-01-07T09:00:00Z")
    progress.mark_done(ClientDoneArgs(client_id="a", period="2027-01-07T09:00:00Z"))

    assert [t.client_id for t in progress.not_done(targets("a", "b"), "2027-01-07T09:00:00Z")] == [
        "b"
    ]
    assert len(progress.not_done(targets("a", "b"), "2027-04-07T08:00:00Z")) == 2


def test_escalation_comes_once_per_client_and_period_after_n_sends() -> None:
    progress = ClientProgress(None)
    period = "2027-01-07T09:00:00Z"
    told = [progress.count_sends(["a", "b"], period, 3) for _ in range(5)]
    assert told == [[], [], ["a", "b"], [], []]
    assert progress.count_sends(["a"], "2027-04-07T08:00:00Z", 1) == ["a"]


@given(st.lists(st.integers(min_value=0, max_value=40), min_size=1, max_size=30))
def test_state_carried_across_continue_as_new_is_bounded_and_keeps_what_matters(
    days: list[int],
) -> None:
    start = datetime(2027, 1, 1, 9, tzinfo=UTC)
    keys = [
        (start + timedelta(days=day)).isoformat().replace("+00:00", "Z") for day in sorted(days)
    ]
    progress = ClientProgress(None)
    for key in keys:
        progress.mark_done(ClientDoneArgs(client_id="a", period=key))
        progress.count_sends(["a"], key, 100)
        progress.enter(key)
        progress = ClientProgress(progress.carried())  # a continue-as-new
    assert len(progress.done) <= KEPT_PERIODS
    assert len(progress.sends) <= KEPT_PERIODS
    assert progress.is_done("a", keys[-1])
    assert progress.period == keys[-1]
