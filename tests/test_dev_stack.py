"""`reminders dev` end to end: real Temporal dev server, worker and API, stopped by Ctrl-C.

Slow by nature (two start-ups of the whole stack); everything it starts is killed in
`finally` blocks, so a failing run leaves no process behind.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest
from temporalio.client import Client, WorkflowExecutionStatus

from workflows.diagnostics import PingInput, PingWorkflow

ROOT = Path(__file__).resolve().parent.parent
START_TIMEOUT = 90.0
STOP_TIMEOUT = 20.0
READY_LINE = "Press Ctrl-C to stop."
# Settings the stack must not inherit from the developer's shell or CI.
SCRUBBED = ("DATABASE_URL", "REDIS_URL", "ADMIN_", "TEMPORAL_", "PUBLIC_BASE_URL", "ENV")


def free_ports(count: int) -> list[int]:
    with ExitStack() as stack:
        socks = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in socks:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in socks]


def marked_pids(data_dir: Path) -> list[int]:
    """Processes started for this data dir (the runner marks its children's environment)."""
    marker = f"REMINDERS_DEV_DATA_DIR={data_dir}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if marker in (entry / "environ").read_bytes().split(b"\0"):
                found.append(int(entry.name))
        except OSError:
            continue  # gone meanwhile, or not ours to read
    return found


def is_running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


class DevStack:
    """One `reminders dev` run: its process, its output, and how to stop it."""

    def __init__(self, data_dir: Path, cwd: Path) -> None:
        self.data_dir = data_dir
        self.api_port, self.temporal_port, self.ui_port = free_ports(3)
        self.lines: list[str] = []
        argv = [sys.executable, "-m", "cli", "dev", "--data-dir", str(data_dir)]
        argv += ["--api-port", str(self.api_port), "--temporal-port", str(self.temporal_port)]
        argv += ["--ui-port", str(self.ui_port)]
        self.proc = subprocess.Popen(
            argv,
            cwd=cwd,  # away from the repository's .env
            env=self._env(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    @staticmethod
    def _env() -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(SCRUBBED)}
        env["PYTHONPATH"] = str(ROOT)
        return env

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    async def wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while not any(READY_LINE in line for line in self.lines):
            if self.proc.poll() is not None:
                pytest.fail(f"reminders dev exited with {self.proc.returncode}:\n{self.output}")
            if time.monotonic() > deadline:
                pytest.fail(f"reminders dev not ready in {START_TIMEOUT}s:\n{self.output}")
            await asyncio.sleep(0.1)

    def child_pids(self) -> dict[str, int]:
        found = re.findall(r"started (\w+) \(pid (\d+)\)", self.output)
        return {name: int(pid) for name, pid in found}

    def admin_password(self) -> str | None:
        match = re.search(r"Admin login .*, password (\S+) \(generated", self.output)
        return match.group(1) if match else None

    async def interrupt(self) -> int:
        """Ctrl-C, as a terminal sends it; the exit code."""
        self.proc.send_signal(signal.SIGINT)
        deadline = time.monotonic() + STOP_TIMEOUT
        while self.proc.poll() is None:
            if time.monotonic() > deadline:
                pytest.fail(f"reminders dev still running {STOP_TIMEOUT}s after SIGINT")
            await asyncio.sleep(0.1)
        self._reader.join(timeout=5)
        return self.proc.returncode

    def kill(self) -> None:
        """Leave nothing behind, whatever state the run is in."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        for pid in [*self.child_pids().values(), *marked_pids(self.data_dir)]:
            try:
                os.killpg(pid, signal.SIGKILL)
            except OSError:
                pass


@pytest.fixture
def stacks() -> Iterator[list[DevStack]]:
    started: list[DevStack] = []
    yield started
    for stack in started:
        stack.kill()


async def assert_stops_cleanly(stack: DevStack) -> None:
    children = stack.child_pids()
    assert set(children) == {"temporal", "worker", "api"}, stack.output

    assert await stack.interrupt() == 0, stack.output
    left = [pid for pid in children.values() if is_running(pid)]
    assert not left, f"children still running: {left}\n{stack.output}"
    assert not [pid for pid in marked_pids(stack.data_dir) if is_running(pid)]


async def test_dev_stack_runs_everything_and_keeps_data_across_restarts(
    tmp_path: Path, stacks: list[DevStack]
) -> None:
    data_dir = tmp_path / "data"
    first = DevStack(data_dir, tmp_path)
    stacks.append(first)
    await first.wait_ready()
    api = f"http://127.0.0.1:{first.api_port}"
    password = first.admin_password()
    assert password, first.output
    email = f"owner-{uuid.uuid4().hex[:8]}@example.com"

    async with httpx.AsyncClient(timeout=10) as http:
        assert (await http.get(f"{api}/docs")).status_code == 200
        assert 'id="login-form"' in (await http.get(f"{api}/admin/login")).text
        assert f"Dashboard    {api}/admin" in first.output
        assert (await http.get(f"http://127.0.0.1:{first.ui_port}/")).status_code == 200
        registered = await http.post(
            f"{api}/api/v1/auth/register",
            json={
                "email": email,
                "password": "Correct-Horse-7",
                "full_name": "Dev Owner",
                "business_name": "Dev Accounting",
            },
        )
        assert registered.status_code == 201, registered.text
        admin = await http.post(
            f"{api}/api/v1/auth/token",
            data={"username": "admin@example.com", "password": password},
        )
        assert admin.status_code == 200, admin.text

    temporal = await Client.connect(f"127.0.0.1:{first.temporal_port}")
    workflow_id = f"ping-{uuid.uuid4()}"
    pong = await temporal.execute_workflow(
        PingWorkflow.run, PingInput(), id=workflow_id, task_queue="reminders"
    )
    assert pong.database == "ok"
    assert pong.worker.startswith(f"{first.child_pids()['worker']}@")

    await assert_stops_cleanly(first)

    second = DevStack(data_dir, tmp_path)
    stacks.append(second)
    await second.wait_ready()
    assert "admin exists" in second.output
    assert second.admin_password() is None
    async with httpx.AsyncClient(timeout=10) as http:
        login = await http.post(
            f"http://127.0.0.1:{second.api_port}/api/v1/auth/token",
            data={"username": email, "password": "Correct-Horse-7"},
        )
        assert login.status_code == 200, login.text
    temporal = await Client.connect(f"127.0.0.1:{second.temporal_port}")
    described = await temporal.get_workflow_handle(workflow_id).describe()
    assert described.status == WorkflowExecutionStatus.COMPLETED

    await assert_stops_cleanly(second)
