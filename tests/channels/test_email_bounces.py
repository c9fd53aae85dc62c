"""Reading RFC 3464 reports: which message bounced, and whether it bounced for good."""

from __future__ import annotations

import pytest

from channels.email_bounces import NotAReport, parse_report
from tests.builders.bounces import dsn


@pytest.mark.parametrize("whole_message", [False, True])
def test_the_bounced_message_is_named_by_its_quoted_message_id(whole_message: bool) -> None:
    bounce = parse_report(dsn("<d1b2@firm.example>", whole_message=whole_message))

    assert bounce.message_id == "d1b2@firm.example"
    failure = bounce.hard_failure
    assert failure is not None
    assert failure.status == "5.1.1"
    assert failure.diagnostic is not None
    assert "Recipient unknown" in failure.diagnostic


@pytest.mark.parametrize(
    ("action", "status"),
    [("delayed", "4.4.1"), ("failed", "4.2.2"), ("delivered", "2.0.0"), ("failed", "bogus")],
)
def test_only_a_failed_action_with_a_permanent_status_is_a_hard_bounce(
    action: str, status: str
) -> None:
    assert parse_report(dsn("<x@firm.example>", action=action, status=status)).hard_failure is None


def test_a_report_without_the_original_names_no_message() -> None:
    assert parse_report(dsn("no brackets")).message_id is None


def test_a_long_diagnostic_is_cut_and_loses_its_control_characters() -> None:
    raw = dsn("<x@firm.example>").replace(b"Recipient unknown", b"\x1b[31m" + b"y" * 5000)
    failure = parse_report(raw).hard_failure
    assert failure is not None
    assert failure.diagnostic is not None
    assert len(failure.diagnostic) <= 500
    assert "\x1b" not in failure.diagnostic


def test_bytes_that_are_not_ascii_come_out_as_text_a_database_stores() -> None:
    raw = dsn("<x@firm.example>").replace(b"Recipient unknown", b"caf\xe9 \xff\xfe\x00")
    failure = parse_report(raw).hard_failure
    assert failure is not None
    assert failure.diagnostic is not None
    assert "caf" in failure.diagnostic
    failure.diagnostic.encode("utf-8")  # no lone surrogates
    assert "\x00" not in failure.diagnostic
    not_ours = dsn("<x@firm.example>").replace(b"<x@firm", b"<\xe9@firm")
    assert parse_report(not_ours).message_id is None


@pytest.mark.parametrize(
    "raw",
    [b"", b"Subject: hi\n\nbody", b"Content-Type: multipart/report\n\n", b"\x00\xff" * 100],
)
def test_what_is_not_a_delivery_status_report_is_refused(raw: bytes) -> None:
    with pytest.raises(NotAReport):
        parse_report(raw)
