"""The `reminders` command: create-admin, migrate and reconcile, run through typer's runner."""

from __future__ import annotations

import asyncio
import re
import sqlite3
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner, Result

from cli import app
from core.settings import get_settings
from tests.conftest import Tenant, count_rows

STRONG = "Admin-Pass-2024"
OTHER = "Other-Pass-2025"


def invoke(args: list[str], **env: str | None) -> Result:
    # Settings are cached per process; each run must read the environment given here.
    get_settings.cache_clear()
    try:
        return CliRunner().invoke(
            app, args, env={"ADMIN_EMAIL": None, "ADMIN_PASSWORD": None, **env}
        )
    finally:
        get_settings.cache_clear()


async def create_admin(database_url: str, *args: str) -> Result:
    # The command runs its own event loop, so it goes to a thread, away from the test's.
    return await asyncio.to_thread(invoke, ["create-admin", *args], DATABASE_URL=database_url)


async def can_log_in(client: httpx.AsyncClient, email: str, password: str) -> bool:
    response = await client.post(
        "/api/v1/auth/token", data={"username": email, "password": password}
    )
    return response.status_code == 200


@pytest.fixture(autouse=True)
def _no_dotenv(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run where no developer's `.env` can change the settings under test."""
    monkeypatch.chdir(tmp_path)


async def test_create_admin_makes_a_superuser_without_business_who_can_log_in(
    client: httpx.AsyncClient, database_url: str
) -> None:
    result = await create_admin(database_url, "--email", "Root@Example.com", "--password", STRONG)

    assert result.exit_code == 0, result.output
    assert "Created superuser root@example.com" in result.output
    token = await client.post(
        "/api/v1/auth/token", data={"username": "root@example.com", "password": STRONG}
    )
    assert token.status_code == 200, token.text
    me = await client.get(
        "/api/v1/users/me", headers={"Authorization": f"Bearer {token.json()['access_token']}"}
    )
    assert me.json()["is_superuser"] is True
    assert me.json()["business_id"] is None


async def test_create_admin_refuses_a_weak_password(app: object, database_url: str) -> None:
    result = await create_admin(
        database_url, "--email", "root@example.com", "--password", "password"
    )

    assert result.exit_code == 1
    assert "weak admin password" in result.stderr
    assert await count_rows(app, "users") == 0


async def test_create_admin_again_changes_nothing_unless_asked_to_reset(
    client: httpx.AsyncClient, database_url: str
) -> None:
    await create_admin(database_url, "--email", "root@example.com", "--password", STRONG)

    again = await create_admin(database_url, "--email", "root@example.com", "--password", OTHER)
    assert again.exit_code == 0, again.output
    assert "already exists; nothing changed" in again.output
    assert await can_log_in(client, "root@example.com", STRONG)
    assert not await can_log_in(client, "root@example.com", OTHER)

    reset = await create_admin(
        database_url, "--email", "root@example.com", "--password", OTHER, "--reset-password"
    )
    assert reset.exit_code == 0, reset.output
    assert await can_log_in(client, "root@example.com", OTHER)
    assert not await can_log_in(client, "root@example.com", STRONG)


async def test_create_admin_generates_a_password_and_prints_it_only_once(
    client: httpx.AsyncClient, database_url: str
) -> None:
    first = await asyncio.to_thread(
        invoke, ["create-admin"], DATABASE_URL=database_url, ADMIN_EMAIL="ops@example.com"
    )

    assert first.exit_code == 0, first.output
    match = re.search(r"Generated password \(shown only this once\): (\S+)", first.output)
    assert match is not None, first.output
    password = match.group(1)
    assert await can_log_in(client, "ops@example.com", password)
    second = await create_admin(database_url, "--email", "ops@example.com")
    assert second.exit_code == 0, second.output
    assert password not in second.output
    assert "Generated password" not in second.output


async def test_create_admin_refuses_the_email_of_a_business_user(
    database_url: str, owner: Tenant
) -> None:
    result = await create_admin(database_url, "--email", owner.email, "--password", STRONG)

    assert result.exit_code == 1
    assert "regular (business) user" in result.stderr


def test_reconcile_says_it_needs_the_reminder_engine_and_exits_2() -> None:
    result = invoke(["reconcile"])

    assert result.exit_code == 2
    assert "not available yet: needs the reminder engine" in result.stderr


def test_migrate_creates_the_schema_on_a_fresh_sqlite_path(tmp_path: Path) -> None:
    path = tmp_path / "new" / "dir" / "fresh.db"

    result = invoke(["migrate"], DATABASE_URL=f"sqlite+aiosqlite:///{path}")

    assert result.exit_code == 0, result.output
    with sqlite3.connect(path) as conn:
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
    assert {"users", "businesses", "alembic_version"} <= tables
