"""What a compiled template calls wherever a value can grow or time can pass: each checks
the render's Budget (core.templating.limits) before it lets the value be built, or sizes
and charges it right after when it can be at most a small multiple of its inputs."""

from __future__ import annotations

import re
from collections import abc
from collections.abc import Iterable, Iterator
from typing import Any

from jinja2 import pass_eval_context
from jinja2.nodes import EvalContext

from core.templating.limits import (
    MAX_ARGUMENT_CHARS,
    MAX_VALUE_SIZE,
    Budget,
    LimitExceeded,
    active,
    check_bits,
    too_large,
)

MAX_RANGE = 1000
MAX_POWER_EXPONENT = 100
MAX_FORMAT_WIDTH = 100
# Room for one `%` conversion beyond its value's own text: "%f" % 1e308 has 316 digits.
FORMATTED_NUMBER_CHARS = 330


def check_arguments(args: Iterable[Any]) -> None:
    """A method's text arguments: strip, split, find... take time in proportion to both
    their text and their argument."""
    for arg in args:
        if isinstance(arg, str) and len(arg) > MAX_ARGUMENT_CHARS:
            raise LimitExceeded(
                f"method arguments may have at most {MAX_ARGUMENT_CHARS} characters"
            )


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_add(budget: Budget, left: Any, right: Any) -> None:
    if _is_int(left) and _is_int(right):
        check_bits(max(left, right, key=abs), extra=1)
    elif isinstance(left, str | list | tuple) and isinstance(right, str | list | tuple):
        if budget.size(left) + budget.size(right) > MAX_VALUE_SIZE:
            raise too_large()


def _check_multiply(budget: Budget, left: Any, right: Any) -> None:
    for seq, times in ((left, right), (right, left)):
        if isinstance(seq, str | list | tuple) and isinstance(times, int):
            # A repeated list is one list of `times` copies of the items.
            items = budget.size(seq) - (0 if isinstance(seq, str) else 1)
            if items * max(times, 0) > MAX_VALUE_SIZE:
                raise LimitExceeded("repetition too large for a message")
            return
    if _is_int(left) and _is_int(right):
        check_bits(left, right)


def _check_power(budget: Budget, left: Any, right: Any) -> None:
    if isinstance(right, int | float) and abs(right) > MAX_POWER_EXPONENT:
        raise LimitExceeded(f"exponents above {MAX_POWER_EXPONENT} are not allowed")
    if _is_int(left) and _is_int(right) and right > 0:
        check_bits(extra=abs(left).bit_length() * right)


# One `%` conversion as Python reads it. A mapping key is read only up to 100 characters
# without parentheses (so a crafted text is scanned in linear time, and Python's nesting
# of parentheses in keys need not be followed); any other key is refused below.
_CONVERSION = re.compile(
    r"%(?:\((?P<key>[^()]{0,100})\))?[-#0 +]*(?P<width>\*|\d*)(?:\.(?P<precision>\*|\d*))?"
    r"[hlL]?(?P<type>.?)",
    re.DOTALL,
)


def _check_format(budget: Budget, left: Any, right: Any) -> None:
    """`text % values` is sized before it is built: widths are capped, values measured."""
    if not isinstance(left, str):
        return  # a remainder is never larger than its operands
    values = right if isinstance(right, tuple) else (right,)
    size, position = len(left), 0
    for spec in _CONVERSION.finditer(left):
        budget.tick()
        kind, width, precision = spec["type"], spec["width"], spec["precision"]
        if kind == "%":
            continue
        if kind in ("(", "r", "a") or "*" in (width, precision):
            raise LimitExceeded("% formats take no *, %r, %a or long mapping keys here")
        widest = max(int(width or 0), int(precision or 0))
        if widest > MAX_FORMAT_WIDTH:
            raise LimitExceeded(f"format widths above {MAX_FORMAT_WIDTH} are not allowed")
        if spec["key"] is not None and isinstance(right, abc.Mapping):
            value = right.get(spec["key"])
        else:
            value = values[position] if position < len(values) else None
            position += 1
        size += widest + len(budget.text(value)) + FORMATTED_NUMBER_CHARS
    if size > MAX_VALUE_SIZE:
        raise too_large("formatted text")


BINOP_CHECKS = {"+": _check_add, "*": _check_multiply, "**": _check_power, "%": _check_format}


def safe_range(*args: int) -> range:
    numbers = range(*args)
    if len(numbers) > MAX_RANGE:
        raise LimitExceeded(f"range() is limited to {MAX_RANGE} items in templates")
    return numbers


def loop(iterable: Iterable[Any]) -> Iterator[Any]:
    """Every `{% for %}` iterates through this: it spends the render's loop budget."""
    budget = active()
    for item in iterable:
        budget.loop()
        yield item


def concat(*parts: Any) -> str:
    """`a ~ b ~ c`, sized before it is joined."""
    return active().join(parts)


def slice_(value: Any, start: Any, stop: Any, step: Any) -> Any:
    budget = active()
    budget.tick()
    return budget.admit(value[start:stop:step])


def literal(value: Any) -> Any:
    """A list, tuple or dict written in the template, sized once its items are known."""
    budget = active()
    budget.tick()
    return budget.admit(value)


@pass_eval_context
def finalize(eval_ctx: EvalContext, value: Any) -> str:
    """Every piece of output, including text inside macros and `{% set %}` blocks, which
    is collected in a list and joined without passing through the output stream. A value
    that is not there (a client without a phone, say) prints as nothing, never "None"."""
    budget = active()
    text = "" if value is None else budget.text(value)
    budget.spend(len(text))
    return text
