"""Message templates rendered in Jinja2's sandbox; errors carry the template line."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import date, datetime
from types import TracebackType
from typing import Any

from jinja2 import (
    StrictUndefined,
    Template,
    TemplateError,
    TemplateSyntaxError,
    UndefinedError,
    nodes,
)
from jinja2.sandbox import SandboxedEnvironment, SecurityError

MAX_RANGE = 1000
MAX_OUTPUT_CHARS = 100_000
# Loop iterations one render may make in all: nested loops multiply, so each loop being
# short is not enough (three nested range(1000) loops would run a billion times).
MAX_LOOP_ITERATIONS = 10_000
TEMPLATE_NAME = "<template>"
LOOP_GUARD = "__loop_guard__"
_loop_budget: ContextVar[list[int] | None] = ContextVar("template_loop_budget", default=None)


@dataclass
class TemplateProblem(Exception):
    message: str
    line: int | None = None
    field: str = "body"

    def __str__(self) -> str:
        where = f" (line {self.line})" if self.line else ""
        return f"{self.field}: {self.message}{where}"


def _safe_range(*args: int) -> range:
    rng = range(*args)
    if len(rng) > MAX_RANGE:
        raise SecurityError(f"range() is limited to {MAX_RANGE} items in templates")
    return rng


def _loop_guard(iterable: Iterable[Any]) -> Iterator[Any]:
    """Every `{% for %}` iterates through this: it spends the render's loop budget."""
    budget = _loop_budget.get() or [MAX_LOOP_ITERATIONS]
    for item in iterable:
        budget[0] -= 1
        if budget[0] < 0:
            raise SecurityError(f"templates may loop at most {MAX_LOOP_ITERATIONS} times in all")
        yield item


def _as_datetime(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            return value
    return value


def _date_filter(value: Any, fmt: str = "%d %B %Y") -> str:
    value = _as_datetime(value)
    if isinstance(value, date):
        return value.strftime(fmt)
    return "" if value is None else str(value)


def _datetime_filter(value: Any, fmt: str = "%d %B %Y %H:%M") -> str:
    return _date_filter(value, fmt)


MAX_POWER_EXPONENT = 100


class _Sandbox(SandboxedEnvironment):
    """Refuses arithmetic that would tie up the worker: huge powers and huge repetitions.

    Intercepting `**` and `*` also stops Jinja folding such constants at compile time.
    """

    intercepted_binops = frozenset({"**", "*"})

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "**" and _is_number(right) and abs(right) > MAX_POWER_EXPONENT:
            raise SecurityError(f"exponents above {MAX_POWER_EXPONENT} are not allowed")
        if operator == "*":
            size = _repeated_size(left, right)
            if size > MAX_OUTPUT_CHARS:
                raise SecurityError("repetition too large for a message")
        return super().call_binop(context, operator, left, right)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _repeated_size(left: Any, right: Any) -> int:
    """Length of `left * right` when it repeats a sequence, else 0."""
    for seq, times in ((left, right), (right, left)):
        if isinstance(seq, str | list | tuple) and isinstance(times, int):
            return len(seq) * max(times, 0)
    return 0


def _build_environment() -> SandboxedEnvironment:
    env = _Sandbox(undefined=StrictUndefined, autoescape=False)
    env.globals["range"] = _safe_range
    env.globals[LOOP_GUARD] = _loop_guard
    env.filters["date"] = _date_filter
    env.filters["datetime"] = _datetime_filter
    return env


_env = _build_environment()


def _template_line(tb: TracebackType | None) -> int | None:
    line = None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == TEMPLATE_NAME:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def check_syntax(source: str, field: str = "body") -> None:
    try:
        _env.parse(source, name=TEMPLATE_NAME, filename=TEMPLATE_NAME)
    except TemplateSyntaxError as exc:
        raise TemplateProblem(exc.message or "syntax error", exc.lineno, field) from None
    except RecursionError:
        # Jinja's parser recurses once per nesting level.
        raise TemplateProblem("nested too deeply", None, field) from None


def _guard_loops(tree: nodes.Template) -> nodes.Template:
    for loop in tree.find_all(nodes.For):
        loop.iter = nodes.Call(nodes.Name(LOOP_GUARD, "load"), [loop.iter], [], None, None)
    return tree


def _compile(source: str, field: str) -> Template:
    try:
        tree = _env.parse(source, name=TEMPLATE_NAME, filename=TEMPLATE_NAME)
        return _env.from_string(_guard_loops(tree))
    except TemplateSyntaxError as exc:
        raise TemplateProblem(exc.message or "syntax error", exc.lineno, field) from None
    except RecursionError:
        raise TemplateProblem("nested too deeply", None, field) from None
    except (ArithmeticError, TypeError, ValueError) as exc:
        # Compiling folds constants, so some bad arithmetic fails before rendering.
        raise TemplateProblem(str(exc), None, field) from None


def render(source: str, context: dict[str, Any], field: str = "body") -> str:
    """Render one template string; TemplateProblem with the line on any error. Callers
    (the preview API and the send activities) get no other exception from user text."""
    template = _compile(source, field)
    budget = _loop_budget.set([MAX_LOOP_ITERATIONS])
    try:
        output = template.render(context)
    except TemplateSyntaxError as exc:
        raise TemplateProblem(exc.message or "syntax error", exc.lineno, field) from None
    except SecurityError as exc:
        raise TemplateProblem(
            f"not allowed: {exc}", _template_line(sys.exc_info()[2]), field
        ) from None
    except UndefinedError as exc:
        raise TemplateProblem(str(exc), _template_line(sys.exc_info()[2]), field) from None
    except RecursionError:
        raise TemplateProblem("nested too deeply", None, field) from None
    except (TemplateError, ArithmeticError, TypeError, ValueError, LookupError) as exc:
        raise TemplateProblem(str(exc), _template_line(sys.exc_info()[2]), field) from None
    finally:
        _loop_budget.reset(budget)
    if len(output) > MAX_OUTPUT_CHARS:
        raise TemplateProblem(
            f"rendered text longer than {MAX_OUTPUT_CHARS} characters", None, field
        )
    return output
