"""What one render may spend, and the checks every guard point makes against it.

A render gets one Budget: a deadline, loop iterations, calls, and characters (or items)
produced in all, whether kept or thrown away. Memory is bounded because every operation
that can build a value is a guard point that sizes the value first (or, where its size is
at most a small multiple of its inputs, right after) and charges it; time is bounded
because every guard point also checks the deadline. The Budget lives in a context variable
so that the compiled template, which is shared by every thread, finds the current render's.
"""

from __future__ import annotations

import time
from collections import abc
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from itertools import chain
from typing import Any

from jinja2.sandbox import SecurityError

MAX_OUTPUT_CHARS = 100_000
# Characters of one string, or items plus nested sizes of one list or dict: what a single
# value may hold. The nested size is what comparing, sorting or printing it costs.
MAX_VALUE_SIZE = 100_000
# Characters and items one render may produce in all, including values it drops again.
MAX_WORK = 1_000_000
# Nested loops multiply, so each loop being short is not enough (three nested range(1000)
# loops would run a billion times): one count for all loops of a render.
MAX_LOOP_ITERATIONS = 10_000
# Macro and method calls; a macro that calls itself twice per call doubles at each level.
MAX_CALLS = 10_000
# A text argument's length where the cost grows with it (str.strip, str.find...).
MAX_ARGUMENT_CHARS = 256
# Integers stay below this many bits: squaring in a loop otherwise doubles their size.
MAX_NUMBER_BITS = 1024
# Wall-clock time one render may take; a message renders in about a millisecond.
RENDER_SECONDS = 0.5

# Containers at least this large keep their measured size (see Budget.sizes).
REMEMBERED_SIZE = 1000
_CONTAINERS = (list, tuple, dict, set, frozenset, abc.KeysView, abc.ValuesView, abc.ItemsView)


class LimitExceeded(SecurityError):
    """A render spent more than its budget allows."""


def too_large(what: str = "a value") -> LimitExceeded:
    return LimitExceeded(f"{what} may hold at most {MAX_VALUE_SIZE} characters or items")


@dataclass
class Budget:
    seconds: float
    deadline: float
    loops: int = MAX_LOOP_ITERATIONS
    calls: int = MAX_CALLS
    work: int = MAX_WORK
    # Values are immutable in the sandbox, so a size, once measured, stays true; keeping
    # the value keeps its id from being reused. Only large ones are kept: measuring a small
    # one again is cheaper than keeping every one a loop makes.
    sizes: dict[int, tuple[Any, int]] = field(default_factory=dict)

    def tick(self) -> None:
        if time.monotonic() > self.deadline:
            raise LimitExceeded(f"rendering may take at most {self.seconds:g} seconds")

    def loop(self) -> None:
        self.tick()
        self.loops -= 1
        if self.loops < 0:
            raise LimitExceeded(f"templates may loop at most {MAX_LOOP_ITERATIONS} times in all")

    def call(self) -> None:
        self.tick()
        self.calls -= 1
        if self.calls < 0:
            raise LimitExceeded(f"templates may make at most {MAX_CALLS} calls in all")

    def spend(self, amount: int) -> None:
        self.tick()
        self.work -= amount
        if self.work < 0:
            raise LimitExceeded(f"a render may produce at most {MAX_WORK} characters in all")

    def size(self, value: Any) -> int:
        """Characters of a string. A container counts one for itself and one per item, plus
        its items' sizes, a shared item each time it appears (what comparing or printing it
        costs). Counting stops past MAX_VALUE_SIZE, so it is never long."""
        if isinstance(value, str):
            return len(value)
        if isinstance(value, range):
            return 1 + 2 * len(value)
        if not isinstance(value, _CONTAINERS):
            return 1  # numbers, None, and lazy iterators (sized by whatever consumes them)
        known = self.sizes.get(id(value))
        if known is not None:
            return known[1]
        total = 1 + len(value)
        items = chain.from_iterable(value.items()) if isinstance(value, dict) else value
        for item in items:
            total += self.size(item)
            if total > MAX_VALUE_SIZE:
                break
        if total >= REMEMBERED_SIZE:
            self.sizes[id(value)] = (value, total)
        return total

    def admit(self, value: Any) -> Any:
        """A value a template operation produced: refused when too large, else charged."""
        size = self.size(value)
        if size > MAX_VALUE_SIZE:
            raise too_large()
        self.spend(size)
        return value

    def text(self, value: Any) -> str:
        """`str(value)`, refused before it is built when the value is too large."""
        if not isinstance(value, str):
            if self.size(value) > MAX_VALUE_SIZE:
                raise too_large("text")
            value = str(value)  # a repr is a few times its size at most
        if len(value) > MAX_VALUE_SIZE:
            raise too_large("text")
        return value

    def join(self, parts: Iterable[Any], separator: Any = "") -> str:
        """`separator.join(str(part) ...)`, refused as soon as its size passes the limit."""
        sep = self.text(separator)
        texts: list[str] = []
        total = -len(sep)
        for part in parts:
            self.tick()
            texts.append(self.text(part))
            total += len(sep) + len(texts[-1])
            if total > MAX_VALUE_SIZE:
                raise too_large("joined text")
        self.spend(max(total, 0))
        return sep.join(texts)


def check_bits(*numbers: Any, extra: int = 0) -> None:
    """Refuse when the integers' bit lengths (plus `extra`) pass MAX_NUMBER_BITS."""
    bits = sum(abs(n).bit_length() for n in numbers if isinstance(n, int)) + extra
    if bits > MAX_NUMBER_BITS:
        raise LimitExceeded(f"numbers may have at most {MAX_NUMBER_BITS} bits")


_active: ContextVar[Budget | None] = ContextVar("template_budget", default=None)


def active() -> Budget:
    budget = _active.get()
    if budget is None:  # a guard outside render(): fail closed rather than unbounded
        raise LimitExceeded("templates are rendered only through core.templating")
    return budget


@contextmanager
def budget_for(seconds: float) -> Iterator[Budget]:
    """The Budget of one render, active in this thread until the block ends."""
    budget = Budget(seconds=seconds, deadline=time.monotonic() + seconds)
    token = _active.set(budget)
    try:
        yield budget
    finally:
        _active.reset(token)
