"""The `reminders` command: run the API, the worker or the whole dev stack, and admin chores."""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer

from core.settings import get_settings

if TYPE_CHECKING:
    from core.settings import Settings
    from ops.admin import AdminResult
    from ops.reconcile import ReconcileReport

app = typer.Typer(
    help="Reminders: durable client reminders by email, SMS and WhatsApp.",
    no_args_is_help=True,
    add_completion=False,
)


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def _shared_metrics_dir() -> str | None:
    """A fresh directory where every API process writes its HTTP counters, so that the
    /metrics any of them answers sums them all (prometheus_client's multiprocess mode,
    read from the environment the processes inherit). One the operator set is used as it
    is, and kept."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return None
    path = tempfile.mkdtemp(prefix="reminders-api-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = path
    return path


@app.command()
def api(
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    reload: Annotated[bool, typer.Option(help="Restart on code changes (development).")] = False,
    workers: Annotated[
        int | None,
        typer.Option(min=1, max=64, help="Processes serving the port (default: API_WORKERS)."),
    ] = None,
) -> None:
    """Serve the HTTP API with uvicorn: one process, or --workers (API_WORKERS) processes on
    one port, whose /metrics counts the requests of all of them."""
    import uvicorn

    from core.logging import configure_logging

    settings = get_settings()
    configure_logging(settings)
    processes = workers or settings.API_WORKERS
    if processes > 1 and reload:
        raise typer.BadParameter("--reload runs one process; drop --workers or API_WORKERS")
    metrics_dir = _shared_metrics_dir() if processes > 1 else None
    uvicorn.run(
        "api.main:create_app",
        factory=True,
        host=host,
        port=port,
        reload=reload,
        workers=processes if processes > 1 else None,
        timeout_keep_alive=settings.API_KEEP_ALIVE_SECONDS,
        log_config=None,  # ours: JSON in production, with the request id
        # Behind a TLS-terminating proxy the scheme and client address come from its
        # X-Forwarded-* headers, believed only from FORWARDED_ALLOW_IPS.
        proxy_headers=True,
        forwarded_allow_ips=settings.FORWARDED_ALLOW_IPS,
    )
    if metrics_dir is not None:
        shutil.rmtree(metrics_dir, ignore_errors=True)
    # uvicorn has shut the app down gracefully; skip the interpreter's teardown, where
    # temporalio's native client can crash (a known SDK issue).
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


@app.command()
def worker() -> None:
    """Run one Temporal worker on the task queue (stops cleanly on SIGTERM or Ctrl-C).

    Run one process per core it can have to itself; more on the same cores added nothing
    in bench.fire. WORKER_MAX_CACHED_WORKFLOWS (default 1000) should be at least the
    reminders it fires at once; WORKER_STICKY_QUEUE_TIMEOUT_SECONDS (default 30) is how
    long its reminders' tasks wait for it before another worker may take them
    (docs/operations.md, Scaling)."""
    import worker as worker_module

    worker_module.main()


@app.command()
def dev(
    data_dir: Annotated[Path, typer.Option(help="Where SQLite and Temporal keep data.")] = Path(
        ".data"
    ),
    api_port: Annotated[int, typer.Option(help="API port.")] = 8000,
    temporal_port: Annotated[int, typer.Option(help="Temporal frontend (gRPC) port.")] = 7233,
    ui_port: Annotated[int, typer.Option(help="Temporal Web UI port.")] = 8233,
) -> None:
    """Run everything locally: migrate, ensure the admin, Temporal dev server, worker, API."""
    from ops.devrunner import DevOptions, run

    options = DevOptions(
        data_dir=data_dir, api_port=api_port, temporal_port=temporal_port, ui_port=ui_port
    )
    raise typer.Exit(run(options))


@app.command()
def migrate() -> None:
    """Upgrade the database (DATABASE_URL) to the latest schema."""
    from ops.migrations import upgrade

    url = get_settings().DATABASE_URL
    upgrade(url)
    typer.echo(f"Database at {_safe_url(url)} is at the latest revision.")


@app.command("create-admin")
def create_admin(
    email: Annotated[str | None, typer.Option(help="Default: ADMIN_EMAIL.")] = None,
    password: Annotated[
        str | None, typer.Option(help="Default: ADMIN_PASSWORD, else one is generated.")
    ] = None,
    reset_password: Annotated[
        bool, typer.Option("--reset-password", help="Set a new password if the admin exists.")
    ] = False,
    full_name: Annotated[str, typer.Option(help="Display name.")] = "Administrator",
) -> None:
    """Create a platform superuser (no business membership)."""
    from sqlalchemy.exc import SQLAlchemyError

    from ops.admin import AdminError, ensure_admin

    settings = get_settings()
    email = email or settings.ADMIN_EMAIL
    if not email:
        _fail("give --email or set ADMIN_EMAIL")
    coro = ensure_admin(
        settings.DATABASE_URL,
        email,
        password or settings.ADMIN_PASSWORD,
        reset_password=reset_password,
        full_name=full_name,
    )
    try:
        result = asyncio.run(coro)
    except AdminError as exc:
        _fail(str(exc))
    except SQLAlchemyError as exc:
        _fail(f"database error ({exc.__class__.__name__}); has `reminders migrate` run?")
    print_admin_result(result)


def print_admin_result(result: AdminResult) -> None:
    if result.created:
        typer.echo(f"Created superuser {result.email}.")
    elif result.password_changed:
        typer.echo(f"Reset the password of superuser {result.email}.")
    else:
        typer.echo(
            f"Superuser {result.email} already exists; nothing changed "
            "(use --reset-password to set a new password)."
        )
    if result.generated_password:
        typer.echo(f"Generated password (shown only this once): {result.generated_password}")


@app.command()
def reconcile(
    as_json: Annotated[bool, typer.Option("--json", help="Print the raw report as JSON.")] = False,
) -> None:
    """Compare reminders in the database with their workflows and repair drift."""
    try:
        _reconcile_and_report(as_json)
        code = 0
    except typer.Exit as exc:
        code = exc.exit_code
    # The command has run temporalio's native client, which can crash while the
    # interpreter tears down (a known SDK issue): leave without that teardown.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _reconcile_and_report(as_json: bool) -> None:
    import json

    from sqlalchemy.exc import SQLAlchemyError

    from ops.reconcile import TemporalUnavailable

    settings = get_settings()
    unusable = f"database at {_safe_url(settings.DATABASE_URL)} failed"
    advice = "is it up, and has `reminders migrate` run?"
    try:
        report = asyncio.run(_reconcile(settings))
    except TemporalUnavailable as exc:
        _fail(str(exc))
    except FileNotFoundError:
        _fail(f"{unusable} (no such file); {advice}")
    except SQLAlchemyError as exc:
        _fail(f"{unusable} ({exc.__class__.__name__}); {advice}")
    if as_json:
        typer.echo(json.dumps(report.as_dict(), indent=2))
    else:
        print_reconcile_report(report)
    raise typer.Exit(1 if report.errors else 0)


@app.command("rotate-keys")
def rotate_keys() -> None:
    """Re-encrypt every stored secret under the first key of ENCRYPTION_KEYS."""
    from sqlalchemy.exc import SQLAlchemyError

    from core.crypto import SecretUnreadable, rotate_stored_secrets
    from core.db import create_sessionmaker, engine_from_settings

    settings = get_settings()

    async def run() -> tuple[int, int]:
        engine = engine_from_settings(settings)
        try:
            report = await rotate_stored_secrets(create_sessionmaker(engine), settings)
        finally:
            await engine.dispose()
        return report.rotated, report.current

    try:
        rotated, current = asyncio.run(run())
    except SecretUnreadable as exc:
        _fail(f"{exc}; nothing was changed (put the old key back after the new one)")
    except SQLAlchemyError as exc:
        _fail(f"database error ({exc.__class__.__name__}); has `reminders migrate` run?")
    typer.echo(
        f"Re-encrypted {rotated} stored secrets under the first key; {current} already were."
    )


def _missing_sqlite_file(url: str) -> bool:
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    database = parsed.database or ""
    if parsed.get_backend_name() != "sqlite" or database in ("", ":memory:"):
        return False
    return not Path(database).is_file()


async def _reconcile(settings: Settings) -> ReconcileReport:
    from core.db import create_sessionmaker, engine_from_settings
    from core.temporal import connect
    from ops.reconcile import TemporalUnavailable
    from ops.reconcile import reconcile as run_reconcile

    try:
        client = await connect(settings, timeout=5.0)
    except Exception as exc:  # any connection failure means the same thing here
        raise TemporalUnavailable(
            f"cannot reach Temporal at {settings.TEMPORAL_ADDRESS} "
            f"(namespace {settings.TEMPORAL_NAMESPACE}): {exc}"
        ) from exc
    if _missing_sqlite_file(settings.DATABASE_URL):
        # Said before aiosqlite's thread starts: its failed connect can print a traceback
        # from that thread while the event loop closes.
        raise FileNotFoundError(settings.DATABASE_URL)
    engine = engine_from_settings(settings)
    try:
        return await run_reconcile(create_sessionmaker(engine), client, settings, source="cli")
    finally:
        await engine.dispose()


def print_reconcile_report(report: ReconcileReport) -> None:
    typer.echo(
        f"Checked {report.checked} active reminders: {report.ok} ok, "
        f"{len(report.started)} started, {len(report.marked)} marked, "
        f"{len(report.errors)} errors."
    )
    for reminder_id in report.started:
        typer.echo(f"  started  {reminder_id}: its workflow was missing and runs again")
    for marked in report.marked:
        typer.echo(f"  marked   {marked.reminder_id}: {marked.from_status} -> {marked.to_status}")
    for error in report.errors:
        typer.echo(f"  error    {error.reminder_id}: {error.error}")


def _fail(message: str) -> NoReturn:
    typer.echo(f"Error: {message}", err=True)
    raise typer.Exit(1)


if __name__ == "__main__":
    app()
