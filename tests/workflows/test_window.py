"""The send window: SMS and WhatsApp reach a client only between the business's local times."""

from __future__ import annotations

from datetime import UTC, datetime

from workflows.window import next_open


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def test_inside_the_window_sends_now() -> None:
    assert next_open(utc("2026-06-01T12:00:00+01:00"), "09:00", "18:00", "Europe/London") is None
    # The start is inclusive.
    assert next_open(utc("2026-06-01T09:00:00+01:00"), "09:00", "18:00", "Europe/London") is None


def test_before_opening_waits_until_nine_local_the_same_day() -> None:
    opens = next_open(utc("2026-06-01T06:30:00+01:00"), "09:00", "18:00", "Europe/London")
    assert opens == utc("2026-06-01T09:00:00+01:00")


def test_after_closing_waits_until_the_next_morning_in_the_clients_zone() -> None:
    # 18:00 is closed (the end is exclusive); 9:00 tomorrow in New York, not in London.
    opens = next_open(utc("2026-06-01T18:00:00-04:00"), "09:00", "18:00", "America/New_York")
    assert opens == utc("2026-06-02T09:00:00-04:00")


def test_window_across_midnight() -> None:
    zone = "Asia/Tokyo"
    assert next_open(utc("2026-06-01T23:30:00+09:00"), "20:00", "02:00", zone) is None
    assert next_open(utc("2026-06-02T01:59:00+09:00"), "20:00", "02:00", zone) is None
    opens = next_open(utc("2026-06-02T02:00:00+09:00"), "20:00", "02:00", zone)
    assert opens == utc("2026-06-02T20:00:00+09:00")


def test_nine_local_across_the_dst_change() -> None:
    # The night the clocks go forward in London: 9:00 the next morning is 08:00 UTC, not 09:00.
    opens = next_open(utc("2026-03-28T22:00:00+00:00"), "09:00", "18:00", "Europe/London")
    assert opens == utc("2026-03-29T09:00:00+01:00")
    assert opens == utc("2026-03-29T08:00:00+00:00")


def test_opening_inside_a_dst_gap_is_shifted_forward_by_the_gap() -> None:
    opens = next_open(utc("2026-03-08T01:00:00-05:00"), "02:30", "05:00", "America/New_York")
    assert opens == utc("2026-03-08T03:30:00-04:00")
