"""More worker processes for `bench.fire --workers K`: K-1 of them beside the bench's own.

Each is `python -m bench.workers --address A --database-url URL ...`: the same worker the
bench runs in-process (the project's workflows and activities, sandbox providers, the
ceiling's workflow and activity), on the same task queue, until SIGTERM. The bench starts
them before the burst, waits until each polls, and stops them at the end (Ctrl-C
included; on Linux they die with the bench).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Sequence
from typing import Any

READY = "worker ready"
START_TIMEOUT = 60.0
STOP_TIMEOUT = 10.0


def _argv(args: argparse.Namespace, address: str, database_url: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "bench.workers",
        "--address",
        address,
        "--database-url",
        database_url,
        "--max-activities",
        str(args.max_activities),
        "--max-workflow-tasks",
        str(args.max_workflow_tasks),
        "--max-cached",
        str(args.max_cached),
        "--channel",
        args.channel,
    ]


async def _ready(proc: asyncio.subprocess.Process) -> None:
    assert proc.stdout is not None
    while line := await proc.stdout.readline():
        if line.decode().strip() == READY:
            return
    raise RuntimeError(f"a bench worker exited with {await proc.wait()} before it polled")


def _stop(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)


@contextlib.asynccontextmanager
async def more_workers(
    args: argparse.Namespace, address: str, database_url: str
) -> AsyncIterator[list[int]]:
    """Runs `args.workers - 1` worker processes for as long as the block runs; yields
    their process ids."""
    from bench.fire import _die_with_parent

    procs: list[asyncio.subprocess.Process] = []
    try:
        for _ in range(args.workers - 1):
            procs.append(
                await asyncio.create_subprocess_exec(
                    *_argv(args, address, database_url),
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    start_new_session=True,  # Ctrl-C reaches the bench, which stops them
                    preexec_fn=_die_with_parent,
                )
            )
        await asyncio.wait_for(asyncio.gather(*(_ready(p) for p in procs)), START_TIMEOUT)
        yield [proc.pid for proc in procs]
    finally:
        for proc in procs:
            _stop(proc)
        for proc in procs:
            try:
                await asyncio.wait_for(proc.wait(), STOP_TIMEOUT)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()


async def serve(args: argparse.Namespace) -> None:
    from temporalio.client import Client

    import activities
    from bench.fire import CHANNELS, build_worker, worker_settings
    from channels.providers import SandboxProvider
    from core.db import create_engine, create_sessionmaker
    from core.ratelimit import LocalRateLimiter

    args.rate, args.max_wait = 0.0, 20.0  # --workers runs have no send rate limit
    settings = worker_settings(args, args.database_url)
    engine = create_engine(args.database_url)
    providers: dict[str, Any] = {name: SandboxProvider() for name in CHANNELS}
    outbound = activities.build_outbound(settings, providers, LocalRateLimiter())
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    client = await Client.connect(args.address)
    worker = build_worker(client, args, settings, create_sessionmaker(engine), outbound)
    try:
        async with worker:
            sys.stdout.write(READY + "\n")
            sys.stdout.flush()
            await stop.wait()
    finally:
        await outbound.close()
        await engine.dispose()


def main(argv: Sequence[str] | None = None) -> None:
    from bench.fire import add_max_cached

    parser = argparse.ArgumentParser(prog="python -m bench.workers")
    parser.add_argument("--address", required=True)
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--max-activities", type=int, default=16)
    parser.add_argument("--max-workflow-tasks", type=int, default=16)
    add_max_cached(parser)
    parser.add_argument("--channel", default="email")
    code = 0
    try:
        asyncio.run(serve(parser.parse_args(argv)))
    except KeyboardInterrupt:
        code = 130
    sys.stdout.flush()
    # temporalio's native runtime can crash at interpreter exit (a known SDK issue).
    os._exit(code)


if __name__ == "__main__":
    main()
