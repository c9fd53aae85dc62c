"""SQL lives in core/repositories (STYLE, Code 3): the API domains moved there run no
statement of their own, and their routes do not commit (the service they call does)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# Domains whose SQL has moved; add one here once it has.
MOVED = [
    "api/admin",
    "api/dashboard",
    "api/events",
    "api/metrics.py",
    "api/notifications",
    "api/reminders",
    "api/usage",
    "api/web",
    "api/webhooks",
]
RUNS_SQL = re.compile(
    r"^from sqlalchemy(\.orm|\.sql\S*)? import"
    r"|\bsession\.(execute|scalars?|get|stream)\("
    r"|\b(select|text)\(",
    re.MULTILINE,
)


def _modules(entry: str) -> list[Path]:
    path = ROOT / entry
    return [path] if path.is_file() else sorted(path.glob("*.py"))


@pytest.mark.parametrize("entry", MOVED)
def test_a_moved_domain_runs_no_sql_of_its_own(entry: str) -> None:
    found = [
        f"{module.relative_to(ROOT)}: {match.group(0)}"
        for module in _modules(entry)
        for match in RUNS_SQL.finditer(module.read_text())
    ]
    assert found == []


@pytest.mark.parametrize("entry", MOVED)
def test_a_moved_domains_routes_do_not_commit(entry: str) -> None:
    routers = [m for m in _modules(entry) if m.name in ("router.py", "signin.py", "metrics.py")]
    assert [str(m.relative_to(ROOT)) for m in routers if "commit()" in m.read_text()] == []
