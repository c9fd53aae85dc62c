"""Rendering a tenant's text: compiled once and cached, each render under a Budget, and,
for the API and the worker, on a small pool of threads so the event loop never waits on
a template."""

from __future__ import annotations

import asyncio
import threading
from collections import OrderedDict
from collections.abc import AsyncIterator, Generator, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager, closing, contextmanager
from dataclasses import dataclass
from functools import partial
from types import TracebackType
from typing import Any, cast

from jinja2 import Template, TemplateSyntaxError
from jinja2.sandbox import SecurityError

from core.templating.limits import (
    MAX_OUTPUT_CHARS,
    RENDER_SECONDS,
    LimitExceeded,
    active,
    budget_for,
)
from core.templating.sandbox import TEMPLATE_NAME, compile_template

# Threads that render: enough to overlap two messages, few enough that renders running to
# their deadline take at most this many cores from the process.
RENDER_THREADS = 2
# Compiled templates kept, and the most source text they may add up to (a compiled
# template is several times the size of its source).
CACHE_ENTRIES = 256
CACHE_SOURCE_CHARS = 2_000_000
MAX_PROBLEM_CHARS = 500


@dataclass
class TemplateProblem(Exception):
    message: str
    line: int | None = None
    field: str = "body"

    def __str__(self) -> str:
        where = f" (line {self.line})" if self.line else ""
        return f"{self.field}: {self.message}{where}"


class _CompiledCache:
    """Least recently used compiled templates, keyed by source; shared by the threads (a
    compiled template keeps no state between renders: each render has its own context)."""

    def __init__(self, entries: int, source_chars: int) -> None:
        self._templates: OrderedDict[str, Template] = OrderedDict()
        self._entries = entries
        self._source_chars = source_chars
        self._chars = 0
        self._lock = threading.Lock()

    def get(self, source: str) -> Template | None:
        with self._lock:
            template = self._templates.get(source)
            if template is not None:
                self._templates.move_to_end(source)
            return template

    def put(self, source: str, template: Template) -> None:
        with self._lock:
            if source in self._templates:
                return
            self._templates[source] = template
            self._chars += len(source)
            while len(self._templates) > self._entries or self._chars > self._source_chars:
                dropped, _ = self._templates.popitem(last=False)
                self._chars -= len(dropped)


_cache = _CompiledCache(CACHE_ENTRIES, CACHE_SOURCE_CHARS)
_pool = ThreadPoolExecutor(max_workers=RENDER_THREADS, thread_name_prefix="template-render")


def _template_line(tb: TracebackType | None) -> int | None:
    line = None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == TEMPLATE_NAME:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def _problem(exc: Exception, field: str) -> TemplateProblem:
    if isinstance(exc, TemplateSyntaxError):
        message, line = exc.message or "syntax error", exc.lineno
    elif isinstance(exc, RecursionError):  # Jinja's parser and macro calls recurse per level
        message, line = "nested too deeply", None
    else:
        line = _template_line(exc.__traceback__)
        message = str(exc) or exc.__class__.__name__
        if isinstance(exc, SecurityError):
            message = f"not allowed: {message}"
    # Errors may quote a value ("no attribute '...'"), which can be as long as the text.
    return TemplateProblem(message[:MAX_PROBLEM_CHARS], line, field)


def _compiled(source: str, seconds: float) -> Template:
    template = _cache.get(source)
    if template is None:
        # A budget of its own: Jinja runs filters on constants while compiling.
        with budget_for(seconds):
            template = compile_template(source)
        _cache.put(source, template)
    return template


@contextmanager
def _problems_in(field: str) -> Iterator[None]:
    """Any error in a field's text, whatever it is, becomes a TemplateProblem naming the
    field and, when known, the line: callers get no other exception from a tenant's text."""
    try:
        yield
    except MemoryError:
        raise  # the limits exist so that this cannot happen: never hide it as a text error
    except Exception as exc:
        raise _problem(exc, field) from None


def _stream(template: Template, context: Mapping[str, Any]) -> str:
    """The output, stopped as soon as it passes MAX_OUTPUT_CHARS."""
    budget = active()
    chunks: list[str] = []
    total = 0
    pieces = cast(Generator[str, None, None], template.generate(context))
    with closing(pieces):
        for piece in pieces:
            budget.tick()
            total += len(piece)
            if total > MAX_OUTPUT_CHARS:
                raise LimitExceeded(f"rendered text longer than {MAX_OUTPUT_CHARS} characters")
            chunks.append(piece)
    return "".join(chunks)


def render_fields(
    sources: Mapping[str, str], context: Mapping[str, Any], seconds: float = RENDER_SECONDS
) -> dict[str, str]:
    """Render each field's source (subject, body...) with one Budget for them all. Compiling
    comes first and is not counted in it, so a long template that is cached renders no
    differently from its first time."""
    templates: dict[str, Template] = {}
    for field, source in sources.items():
        with _problems_in(field):
            templates[field] = _compiled(source, seconds)
    rendered: dict[str, str] = {}
    with budget_for(seconds):
        for field, template in templates.items():
            with _problems_in(field):
                rendered[field] = _stream(template, context)
    return rendered


class RenderBusy(Exception):
    """This owner already has as many renders running and waiting as it may."""


class _Turns:
    """Takes turns on the render threads per owner (a business): one render of an owner at
    a time and at most `waiting` more queued, so one owner's slow texts can hold at most one
    thread and never make another owner's render wait behind them."""

    def __init__(self, waiting: int) -> None:
        self._waiting = waiting
        self._owners: dict[str, tuple[asyncio.Lock, int]] = {}

    @asynccontextmanager
    async def turn(self, owner: str) -> AsyncIterator[None]:
        lock, queued = self._owners.get(owner, (asyncio.Lock(), 0))
        if queued > self._waiting:  # the one running, and `waiting` more
            raise RenderBusy(owner)
        self._owners[owner] = (lock, queued + 1)
        try:
            async with lock:
                yield
        finally:
            lock, queued = self._owners[owner]
            if queued == 1:
                del self._owners[owner]
            else:
                self._owners[owner] = (lock, queued - 1)


# Renders of one owner that may wait for its running one (the API's previews and saves).
RENDERS_WAITING_PER_OWNER = 4
_turns = _Turns(RENDERS_WAITING_PER_OWNER)


async def render_async(
    sources: Mapping[str, str],
    context: Mapping[str, Any],
    seconds: float = RENDER_SECONDS,
    owner: str | None = None,
) -> dict[str, str]:
    """render_fields on the render threads, while the event loop goes on. `context` is
    read from another thread: plain values that the caller leaves alone until this returns.
    With an `owner`, its renders take turns (RenderBusy when too many wait); the worker's
    deliveries, bounded by its activity slots, pass none."""
    job = partial(render_fields, dict(sources), context, seconds)
    loop = asyncio.get_running_loop()
    if owner is None:
        return await loop.run_in_executor(_pool, job)
    async with _turns.turn(owner):
        return await loop.run_in_executor(_pool, job)
