"""The stack a benchmark runs against: `reminders dev` on free ports with its data in a
directory of the benchmark's, its output kept, stopped in order at the end (bench.load,
bench.create)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import platform
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
READY_LINE = "Press Ctrl-C to stop."
START_TIMEOUT = 120.0
STOP_TIMEOUT = 30.0
# What the stack must not inherit from the shell (as tests/test_dev_stack.py scrubs it).
SCRUBBED = ("DATABASE_URL", "REDIS_URL", "ADMIN_", "TEMPORAL_", "PUBLIC_BASE_URL", "ENV")


def say(text: str = "") -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


# -- the machine ---------------------------------------------------------------------------


def machine() -> str:
    model = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    memory = ""
    with contextlib.suppress(OSError, IndexError, ValueError):
        kb = int(Path("/proc/meminfo").read_text().splitlines()[0].split()[1])
        memory = f", {kb / 1024 / 1024:.1f} GiB RAM"
    load = ", load average {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())
    return (
        f"{os.cpu_count()} CPUs ({model}){memory}, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}, httpx {httpx.__version__}{load}"
    )


def free_ports(count: int) -> list[int]:
    with contextlib.ExitStack() as stack:
        socks = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in socks:
            sock.bind((HOST, 0))
        return [int(sock.getsockname()[1]) for sock in socks]


def marked_pids(data_dir: Path) -> list[int]:
    """Processes started for this data dir (`reminders dev` marks its children's env)."""
    marker = f"REMINDERS_DEV_DATA_DIR={data_dir}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if marker in (entry / "environ").read_bytes().split(b"\0"):
                    found.append(int(entry.name))
    return found


class DevStack:
    """One `reminders dev` run on free ports, its output in a log file."""

    def __init__(self, workdir: Path, extra_env: dict[str, str]) -> None:
        self.data_dir = workdir / "data"
        self.log_path = workdir / "stack.log"
        self.api_port, self.temporal_port, self.ui_port = free_ports(3)
        self.url = f"http://{HOST}:{self.api_port}"
        self.lines: list[str] = []
        env = {k: v for k, v in os.environ.items() if not k.startswith(SCRUBBED)}
        env.update(extra_env)
        env["PYTHONPATH"] = str(ROOT)
        argv = [sys.executable, "-m", "cli", "dev", "--data-dir", str(self.data_dir)]
        argv += ["--api-port", str(self.api_port), "--temporal-port", str(self.temporal_port)]
        argv += ["--ui-port", str(self.ui_port)]
        self.proc = subprocess.Popen(
            argv,
            cwd=workdir,  # away from the repository's .env
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,  # Ctrl-C reaches us only; we stop it in order
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        with self.log_path.open("w") as log:
            for line in self.proc.stdout:
                self.lines.append(line.rstrip("\n"))
                log.write(line)
                log.flush()

    async def wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while not any(READY_LINE in line for line in self.lines):
            if self.proc.poll() is not None:
                raise SystemExit(
                    f"reminders dev exited with {self.proc.returncode}:\n{self.tail()}"
                )
            if time.monotonic() > deadline:
                raise SystemExit(f"reminders dev not ready in {START_TIMEOUT:g}s:\n{self.tail()}")
            await asyncio.sleep(0.2)

    def pids(self) -> dict[str, int]:
        found = re.findall(r"started (\w+) \(pid (\d+)\)", "\n".join(self.lines))
        return {name: int(pid) for name, pid in found}

    def tail(self, n: int = 40) -> str:
        return "\n".join(self.lines[-n:])

    def suspicious(self, n: int = 15) -> list[str]:
        words = ("error", "exception", "traceback", "locked", "warning", " 500 ", "timeout")
        return [line for line in self.lines if any(w in line.lower() for w in words)][-n:]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        for pid in [*self.pids().values(), *marked_pids(self.data_dir)]:
            with contextlib.suppress(OSError):
                os.killpg(pid, signal.SIGKILL)
        self._reader.join(timeout=5)
