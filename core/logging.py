"""Logging for the API and the worker: JSON lines in production (one object per line, for
a log pipeline), readable lines in development; every record carries the request id that
started what it is about.

The request id comes from `core.context.request_id_var`: the API's middleware sets it per
request, and the activities set it from the request id the reminder's workflow was
started with, so one id follows a reminder from the API call into its workflow's memo and
its activities' logs. It is stamped on the record when the record is made, in the context
that logged it.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

from core.context import request_id_var
from core.settings import Settings

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"
# Attributes every LogRecord has; anything else was passed in `extra` and is kept.
_STANDARD = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "request_id"}
_installed = False


def stamp_request_ids() -> None:
    """Give every record a `request_id` attribute, read where the record is created."""
    global _installed
    if _installed:
        return
    make_record = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = make_record(*args, **kwargs)
        record.request_id = request_id_var.get() or "-"
        return record

    logging.setLogRecordFactory(factory)
    _installed = True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", "-"),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value  # e.g. temporal_activity / temporal_workflow context
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def use_json(settings: Settings) -> bool:
    if settings.LOG_FORMAT is not None:
        return settings.LOG_FORMAT == "json"
    return settings.is_production


def configure_logging(settings: Settings) -> None:
    """Replace the root handlers with one stream handler in the chosen format."""
    stamp_request_ids()
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if use_json(settings) else logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(settings.LOG_LEVEL.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        # uvicorn's loggers go through the root handler instead of their own.
        logging.getLogger(name).handlers = []
        logging.getLogger(name).propagate = True
