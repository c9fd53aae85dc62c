"""The filters and tests a template may use: only those whose output is bounded by their
input, each result sized and charged to the render's budget.

Left out on purpose: `center`, `indent`, `format`, `batch`, `slice` and `random` (the caller
sets how large their output is), `striptags` and `urlize` (regular expressions that take
quadratic time on crafted text), `attr`, `pprint`, `tojson`, `xmlattr` and `safe` (no
use in a message, more surface). Using one fails when the template compiles.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from datetime import date, datetime
from typing import Any

from jinja2 import Environment, filters, pass_environment, tests
from jinja2.filters import make_attrgetter

from core.templating.limits import (
    MAX_ARGUMENT_CHARS,
    MAX_VALUE_SIZE,
    LimitExceeded,
    active,
    too_large,
)

# Jinja's round(n, "ceil") computes 10 ** n.
MAX_ROUND_DIGITS = 20


def _admitting(function: Callable[..., Any]) -> Callable[..., Any]:
    """The filter, with its result sized and charged. `wraps` keeps Jinja's pass_* marks."""

    @functools.wraps(function)
    def admitted(*args: Any, **kwargs: Any) -> Any:
        budget = active()
        budget.tick()
        return budget.admit(function(*args, **kwargs))

    return admitted


@pass_environment
def _join(
    environment: Environment, value: Iterable[Any], d: Any = "", attribute: Any = None
) -> str:
    if attribute is not None:
        value = map(make_attrgetter(environment, attribute), value)
    return active().join(value, d)


def _replace(value: Any, old: Any, new: Any, count: int | None = None) -> str:
    budget = active()
    text, old, new = budget.text(value), budget.text(old), budget.text(new)
    times = len(text) + 1 if old == "" else text.count(old)
    if count is not None and count >= 0:
        times = min(times, count)
    if len(text) + times * (len(new) - len(old)) > MAX_VALUE_SIZE:
        raise too_large("replaced text")
    return text.replace(old, new, -1 if count is None else count)


@pass_environment
def _wordwrap(
    environment: Environment,
    value: Any,
    width: int = 79,
    break_long_words: bool = True,
    wrapstring: Any = None,
    break_on_hyphens: bool = True,
) -> str:
    budget = active()
    # Wrapped with "\n" first: every "\n" in the result is then a line break, so the size
    # with the real separator is known before it is built.
    wrapped = filters.do_wordwrap(
        environment, budget.text(value), width, break_long_words, "\n", break_on_hyphens
    )
    separator = "\n" if wrapstring is None else budget.text(wrapstring)
    if len(wrapped) + wrapped.count("\n") * (len(separator) - 1) > MAX_VALUE_SIZE:
        raise too_large("wrapped text")
    return wrapped.replace("\n", separator)


def _trim(value: Any, chars: Any = None) -> str:
    # str.strip(chars) takes time in proportion to both lengths.
    if chars is not None and len(active().text(chars)) > MAX_ARGUMENT_CHARS:
        raise LimitExceeded(f"trim() takes at most {MAX_ARGUMENT_CHARS} characters to strip")
    return active().text(value).strip(chars)


@pass_environment
def _sum(
    environment: Environment, value: Iterable[Any], attribute: Any = None, start: Any = 0
) -> Any:
    # A list as `start` would add lists, copying the total so far at every item.
    if not isinstance(start, int | float):
        raise LimitExceeded("sum() adds numbers only")
    return filters.sync_do_sum(environment, value, attribute, start)


def _round(value: float, precision: int = 0, method: str = "common") -> float:
    if not isinstance(precision, int) or abs(precision) > MAX_ROUND_DIGITS:
        raise LimitExceeded(f"round() takes at most {MAX_ROUND_DIGITS} digits")
    return filters.do_round(value, precision, method)  # type: ignore[arg-type]


def _string(value: Any) -> str:
    return active().text(value)


def _as_datetime(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            return value
    return value


def _date(value: Any, fmt: str = "%d %B %Y") -> str:
    value = _as_datetime(value)
    if isinstance(value, date):
        # strftime may write up to 256 times its format ("%255c" is 255 characters).
        if len(active().text(fmt)) > MAX_ARGUMENT_CHARS:
            raise LimitExceeded(f"date formats may have at most {MAX_ARGUMENT_CHARS} characters")
        return value.strftime(fmt)
    return "" if value is None else active().text(value)


def _datetime(value: Any, fmt: str = "%d %B %Y %H:%M") -> str:
    return _date(value, fmt)


_PLAIN: dict[str, Callable[..., Any]] = {
    name: filters.FILTERS[name]
    for name in (
        "abs capitalize count d default dictsort e escape filesizeformat first float "
        "groupby int items last length list lower map max min reject rejectattr reverse "
        "select selectattr sort title truncate unique upper urlencode wordcount"
    ).split()
}
_CHECKED: dict[str, Callable[..., Any]] = {
    "date": _date,
    "datetime": _datetime,
    "join": _join,
    "replace": _replace,
    "round": _round,
    "string": _string,
    "sum": _sum,
    "trim": _trim,
    "wordwrap": _wordwrap,
}
FILTERS = {name: _admitting(f) for name, f in (_PLAIN | _CHECKED).items()}

# Tests answer True or False, so none can grow anything; left out are those that only
# reveal what the sandbox holds (callable, escaped, filter, test).
TESTS = {
    name: test
    for name, test in tests.TESTS.items()
    if name not in {"callable", "escaped", "filter", "test"}
}
