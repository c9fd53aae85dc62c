"""Logs: JSON lines in production, readable lines in development, and the request id of
the API call that made a reminder on the lines its sends log."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from core.context import request_id_var
from core.logging import configure_logging
from core.settings import Settings


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    stream = io.StringIO()
    yield stream
    root.handlers, root.level = saved


def configured(stream: io.StringIO, **values: object) -> logging.Logger:
    configure_logging(Settings(_env_file=None, **values))  # type: ignore[arg-type]
    handler = logging.getLogger().handlers[0]
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(stream)
    return logging.getLogger("tests.logging")


def test_production_logs_json_lines_with_the_request_id(captured: io.StringIO) -> None:
    log = configured(captured, ENV="production")
    token = request_id_var.set("req-42")
    try:
        log.info("sent %s", "it", extra={"delivery_id": "d-1"})
        try:
            raise ValueError("boom")
        except ValueError:
            log.exception("failed")
    finally:
        request_id_var.reset(token)
    first, second = (json.loads(line) for line in captured.getvalue().splitlines())
    assert first["message"] == "sent it"
    assert first["level"] == "INFO"
    assert first["request_id"] == "req-42"
    assert first["delivery_id"] == "d-1"
    assert "ValueError: boom" in second["exception"]


def test_development_logs_readable_lines(captured: io.StringIO) -> None:
    log = configured(captured)
    log.warning("careful")
    line = captured.getvalue().strip()
    assert line.endswith("WARNING tests.logging [-] careful")
    with pytest.raises(json.JSONDecodeError):
        json.loads(line)


def test_log_format_can_be_chosen(captured: io.StringIO) -> None:
    log = configured(captured, LOG_FORMAT="json", LOG_LEVEL="warning")
    log.info("hidden")
    log.error("shown")
    [line] = captured.getvalue().splitlines()
    assert json.loads(line)["message"] == "shown"
