"""SQL lives in core/repositories (STYLE, Code 3): no module of the API runs a statement of
its own, and no route commits (the service it calls does, once, at its end)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
API = ROOT / "api"
# The health check's `SELECT 1` asks the database whether it answers; it reads no domain.
ALLOWED = {"api/health.py": {"from sqlalchemy import", "text(", "conn.execute("}}
RUNS_SQL = re.compile(
    r"^from sqlalchemy(\.orm|\.sql\S*)? import"
    r"|\b(session|conn)\.(execute|scalars?|get|stream)\("
    r"|\b(select|text)\(",
    re.MULTILINE,
)
MODULES = sorted(API.rglob("*.py"))
ROUTES = [m for m in MODULES if m.name in ("router.py", "signin.py", "metrics.py", "health.py")]


def _name(module: Path) -> str:
    return str(module.relative_to(ROOT))


@pytest.mark.parametrize("module", MODULES, ids=_name)
def test_no_api_module_runs_sql_of_its_own(module: Path) -> None:
    allowed = ALLOWED.get(_name(module), set())
    found = [m.group(0) for m in RUNS_SQL.finditer(module.read_text()) if m.group(0) not in allowed]
    assert found == []


@pytest.mark.parametrize("module", ROUTES, ids=_name)
def test_routes_do_not_commit(module: Path) -> None:
    assert "commit()" not in module.read_text()


def test_the_guard_sees_the_api_and_its_routes() -> None:
    # A guard over an empty list would pass forever.
    assert len(MODULES) > 50
    assert len(ROUTES) > 15
