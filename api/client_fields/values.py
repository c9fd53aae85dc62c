"""Values of a business's own client fields: checked against the field's type, from JSON
(the API) or from a CSV cell, and stored as JSON scalars (a date as "2027-01-31")."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import date, timedelta
from typing import Any

from core.client_field_models import FieldType
from core.types import utcnow

MAX_TEXT_CHARS = 500
# Beyond this a number is a mistake (or an attempt to make every render print a megabyte);
# it also keeps integers exact in JavaScript and in float arithmetic.
MAX_NUMBER = 10**15

_INTEGER = re.compile(r"^[+-]?\d{1,16}$")
_TRUE = frozenset({"true", "yes", "y", "1"})
_FALSE = frozenset({"false", "no", "n", "0"})


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("must be text")
    if len(value) > MAX_TEXT_CHARS:
        raise ValueError(f"must be at most {MAX_TEXT_CHARS} characters")
    return value


def _number(value: Any) -> int | float:
    if isinstance(value, str):
        return _number(_parse_number(value))
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("must be a number")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError("must be a finite number")
    if abs(value) > MAX_NUMBER:
        raise ValueError(f"must be between -{MAX_NUMBER} and {MAX_NUMBER}")
    return value


def _parse_number(text: str) -> int | float:
    text = text.strip()
    if len(text) > 40:
        raise ValueError("is not a number")
    if _INTEGER.match(text):
        return int(text)
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a number") from None


def _date(value: Any) -> str:
    if not isinstance(value, str) or len(value) > 40:
        raise ValueError("must be a date as YYYY-MM-DD")
    try:
        return date.fromisoformat(value.strip()).isoformat()
    except ValueError:
        raise ValueError(f"{value!r} is not a date as YYYY-MM-DD") from None


def _boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise ValueError("must be true or false")


_CHECKS = {
    FieldType.text: _text,
    FieldType.number: _number,
    FieldType.date: _date,
    FieldType.boolean: _boolean,
}


def check_value(kind: str, value: Any, *, from_text: bool = False) -> str | int | float | bool:
    """The value as stored for a field of type `kind`; ValueError says what is wrong.
    `from_text`: a CSV cell, where numbers and booleans arrive as text."""
    if not from_text and kind in (FieldType.number, FieldType.boolean) and isinstance(value, str):
        raise ValueError(
            "must be a number" if kind == FieldType.number else "must be true or false"
        )
    return _CHECKS[FieldType(kind)](value)


def check_values(
    types: Mapping[str, str], values: Mapping[str, Any], *, from_text: bool = False
) -> tuple[dict[str, Any], list[str]]:
    """The values checked against the business's fields (`types`, by name), None kept (it
    clears a value); and the problems, one per bad name or value."""
    checked: dict[str, Any] = {}
    problems: list[str] = []
    for name, value in values.items():
        if name not in types:
            known = ", ".join(sorted(types)) or "none yet"
            problems.append(f"fields.{name}: no such field (this business's fields: {known})")
        elif value is None:
            checked[name] = None
        else:
            try:
                checked[name] = check_value(types[name], value, from_text=from_text)
            except ValueError as exc:
                problems.append(f"fields.{name}: {exc}")
    return checked, problems


def merged(current: Mapping[str, Any] | None, changes: Mapping[str, Any]) -> dict[str, Any]:
    """A client's values after `changes`: named values set, None clears one, others kept."""
    values = dict(current or {})
    for name, value in changes.items():
        if value is None:
            values.pop(name, None)
        else:
            values[name] = value
    return values


def sample_value(kind: str, label: str) -> str | int | float | bool:
    """What a template's trial render and preview show for a field the client has."""
    if kind == FieldType.number:
        return 1250
    if kind == FieldType.date:
        return (utcnow().date() + timedelta(days=30)).isoformat()
    if kind == FieldType.boolean:
        return True
    return f"Sample {label}"[:MAX_TEXT_CHARS]
