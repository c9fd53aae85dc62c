"""The `reminders` command: create-admin, migrate and reconcile, run through typer's runner."""

from __future__ import annotations

import asyncio
import re
import sqlite3
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner, Result

from cli import app
from core.settings import Settings, get_settings
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


async def reminders_command(*args: str, **env: str) -> tuple[int, str, str]:
    """Run the installed `reminders` script in a subprocess, as an operator would."""
    import os
    import sys

    script = Path(sys.executable).parent / "reminders"
    process = await asyncio.create_subprocess_exec(
        str(script),
        *args,
        env={**os.environ, **env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=120)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_reconcile_starts_missing_workflows_marks_ended_ones_and_prints_a_summary(
    tmp_path: Path, temporal_dev: Any
) -> None:
    import json
    import uuid

    from core.db import create_engine, create_sessionmaker
    from ops.migrations import upgrade
    from tests.builders.rows import add_business_to, add_reminder_to, start_directly
    from workflows.contracts import workflow_id_for

    url = f"sqlite+aiosqlite:///{tmp_path / 'reconcile.db'}"
    await asyncio.to_thread(upgrade, url)
    engine = create_engine(url)
    sessionmaker = create_sessionmaker(engine)
    business_id = await add_business_to(sessionmaker)
    missing = await add_reminder_to(sessionmaker, business_id)
    ended = await add_reminder_to(sessionmaker, business_id)
    await add_reminder_to(sessionmaker, business_id, status="cancelled")
    await engine.dispose()
    env = {
        "DATABASE_URL": url,
        "TEMPORAL_ADDRESS": temporal_dev.client.service_client.config.target_host,
        "TEMPORAL_NAMESPACE": temporal_dev.client.namespace,
        "TEMPORAL_TASK_QUEUE": f"cli-reconcile-{uuid.uuid4().hex}",
    }
    client = temporal_dev.client
    settings = Settings(_env_file=None, TEMPORAL_TASK_QUEUE=env["TEMPORAL_TASK_QUEUE"])  # type: ignore[call-arg]
    await (await start_directly(client, settings, ended, business_id)).terminate()

    code, out, err = await reminders_command("reconcile", **env)

    assert code == 0, err
    assert "Checked 2 active reminders: 0 ok, 1 started, 1 marked, 0 errors." in out
    assert f"started  {missing}" in out
    assert f"marked   {ended}: scheduled -> failed" in out

    code, out, err = await reminders_command("reconcile", "--json", **env)

    assert code == 0, err
    assert json.loads(out) == {"checked": 1, "ok": 1, "started": [], "marked": [], "errors": []}
    await client.get_workflow_handle(workflow_id_for(missing)).terminate()


async def test_reconcile_exits_1_with_a_clear_message_when_temporal_is_unreachable(
    tmp_path: Path,
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'reconcile.db'}"

    code, out, err = await reminders_command(
        "reconcile", DATABASE_URL=url, TEMPORAL_ADDRESS="127.0.0.1:1"
    )

    assert code == 1
    assert "Error: cannot reach Temporal at 127.0.0.1:1" in err
    assert "Traceback" not in err


async def test_reconcile_exits_1_with_a_clear_message_when_the_database_is_unusable(
    tmp_path: Path, temporal_dev: Any
) -> None:
    code, out, err = await reminders_command(
        "reconcile",
        DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'no' / 'such' / 'dir.db'}",
        TEMPORAL_ADDRESS=temporal_dev.client.service_client.config.target_host,
    )

    assert code == 1
    assert "Error: database at sqlite+aiosqlite:///" in err
    assert "has `reminders migrate` run?" in err
    assert "Traceback" not in err


def test_migrate_creates_the_schema_on_a_fresh_sqlite_path(tmp_path: Path) -> None:
    path = tmp_path / "new" / "dir" / "fresh.db"

    result = invoke(["migrate"], DATABASE_URL=f"sqlite+aiosqlite:///{path}")

    assert result.exit_code == 0, result.output
    with sqlite3.connect(path) as conn:
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
    assert {"users", "businesses", "alembic_version"} <= tables
