"""How a burst of sends due at one instant drains through the per-channel rate limit.

    .venv/bin/python -m bench.throttle [--n 10000] [--rate 400] [--workers 2]
                                       [--concurrency 100] [--max-wait 0.25]
                                       [--redis-url URL | --local]

N sends are due at the same instant T. W worker processes, each with its own
`RedisRateLimiter` on one shared Redis key, drain them. Each worker has C activity slots
that take sends from its queue, like a Temporal worker's concurrent activities. A slot
reserves: if granted it sleeps `wait`, then records the time (the "provider call" does
nothing else); if refused it puts the send back after `wait` (as Temporal's retry delay
would) and takes the next one. `--local` runs the same in one process with
`LocalRateLimiter`.

Never part of `make test`; see bench/README.md for what the figures mean.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import os
import sys
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from multiprocessing import get_context

from core.ratelimit import LocalRateLimiter, RedisRateLimiter

KEY = "email"
START_DELAY = 3.0  # seconds from launch to T: time for the processes to start and connect
US = 1_000_000


def say(text: str = "") -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


@dataclass
class Drained:
    """What one worker saw; times are Unix seconds (a reserved slot on the limiter's clock)."""

    late_start: float = 0.0  # seconds after T that this worker was ready (0: before T)
    sent: list[float] = field(default_factory=list)
    slots: list[float] = field(default_factory=list)
    reservations: int = 0
    refusals: int = 0
    most_refusals: int = 0  # the most times one send was refused
    lost: int = 0


class Worker:
    """C activity slots pulling sends from a queue; a refused send goes back on a timer.

    As in a Temporal worker, only the C sends being worked on hold a coroutine; the rest,
    due or waiting for their retry, are queue entries (the task queue, the server's timers).
    """

    def __init__(self, limiter: LocalRateLimiter | RedisRateLimiter, args: argparse.Namespace):
        self.limiter = limiter
        self.args = args
        self.due: asyncio.Queue[int] = asyncio.Queue()
        self.refused: list[int] = []  # per send: how many times it was refused
        self.result = Drained()
        self.done = asyncio.Event()
        # The local limiter's clock is monotonic: slots are moved onto Unix time.
        local = isinstance(limiter, LocalRateLimiter)
        self.offset = time.time() - time.monotonic() if local else 0.0

    async def activity_slot(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            send = await self.due.get()
            await asyncio.sleep(0)  # a task arrives by network: never a run of them in one step
            reservation, now = await self.limiter.reserve_with_clock(
                KEY, self.args.rate, self.args.max_wait
            )
            self.result.reservations += 1
            if not reservation.granted:
                self.refused[send] += 1
                loop.call_later(reservation.wait, self.due.put_nowait, send)  # the retry
                continue
            await asyncio.sleep(reservation.wait)
            self.result.sent.append(time.time())  # the provider call
            self.result.slots.append(now + reservation.wait + self.offset)
            if len(self.result.sent) == len(self.refused):
                self.done.set()

    async def drain(self, n: int, at: float) -> Drained:
        # Open a connection per activity slot and load the script before T, on a key of
        # its own: a running worker has done so long before a burst.
        warm_up = (self.limiter.reserve("warm-up", US, 1.0) for _ in range(self.args.concurrency))
        await asyncio.gather(*warm_up)
        self.result.late_start = max(0.0, time.time() - at)
        await asyncio.sleep(at - time.time())
        self.refused = [0] * n
        for send in range(n):
            self.due.put_nowait(send)
        slots = [asyncio.create_task(self.activity_slot()) for _ in range(self.args.concurrency)]
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.done.wait(), self.args.timeout)
        for slot in slots:
            slot.cancel()
        self.result.lost = n - len(self.result.sent)
        self.result.refusals = sum(self.refused)
        self.result.most_refusals = max(self.refused)
        return self.result


async def _drain(n: int, at: float, args: argparse.Namespace, prefix: str) -> Drained:
    limiter = LocalRateLimiter() if args.local else RedisRateLimiter(args.redis_url, prefix)
    try:
        return await Worker(limiter, args).drain(n, at)
    finally:
        await limiter.close()


def drain_in_process(n: int, at: float, args: argparse.Namespace, prefix: str) -> Drained:
    """One worker process's whole life (the target of the process pool)."""
    return asyncio.run(_drain(n, at, args, prefix))


# -- figures -----------------------------------------------------------------------------------


def busiest_second(times: list[float]) -> int:
    """The most events in any window [t, t + 1 s); times rounded to microseconds."""
    ordered = sorted(round(t * US) for t in times)
    most, start = 0, 0
    for end, t in enumerate(ordered):
        while ordered[start] <= t - US:
            start += 1
        most = max(most, end - start + 1)
    return most


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def report(args: argparse.Namespace, at: float, results: list[Drained]) -> None:
    sent = [t for r in results for t in r.sent]
    slots = [t for r in results for t in r.slots]
    lateness = [s - t for r in results for s, t in zip(r.sent, r.slots, strict=True)]
    lost = sum(r.lost for r in results)
    refusals = sum(r.refusals for r in results)
    reservations = sum(r.reservations for r in results)
    drain = max(sent) - at if sent else math.nan
    ideal = args.n / args.rate
    by_send, by_slot = busiest_second(sent), busiest_second(slots)
    limiter = "local (one process)" if args.local else f"redis, {args.workers} processes"
    say()
    say(
        f"N={args.n}  rate={args.rate:g}/s  limiter={limiter}  concurrency={args.concurrency}"
        f" per worker  max_wait={args.max_wait:g}s  cores={os.cpu_count()}"
    )
    late = max(r.late_start for r in results)
    if late > 0:
        say(f"warning: a worker was ready {late:.2f}s after T; raise START_DELAY")
    say(f"drained                       {len(sent)} of {args.n}, {lost} lost")
    say(f"drain time from T (s)         {drain:.2f}  (ideal N/R {ideal:.2f}, {drain / ideal:.3f}x)")
    say(f"busiest 1 s, reserved slots   {by_slot}  ({by_slot / args.rate:.3f}x R)")
    say(f"busiest 1 s, send times       {by_send}  ({by_send / args.rate:.3f}x R)")
    say(
        f"send after its slot (ms)      p50 {pct(lateness, 0.5) * 1e3:.1f}  "
        f"p99 {pct(lateness, 0.99) * 1e3:.1f}  max {max(lateness) * 1e3:.1f}"
    )
    say(
        f"refusals                      {refusals}  ({refusals / args.n:.2f} per send, at most "
        f"{max(r.most_refusals for r in results)} for one send); reservations {reservations}"
    )


# -- running -----------------------------------------------------------------------------------


def shares(n: int, workers: int) -> list[int]:
    return [n // workers + (1 if i < n % workers else 0) for i in range(workers)]


def run(args: argparse.Namespace, at: float) -> list[Drained]:
    prefix = f"bench:throttle:{uuid.uuid4().hex}:"  # expires by itself after the run
    if args.local:
        return [drain_in_process(args.n, at, args, prefix)]
    # Leaving the block terminates the worker processes, on Ctrl-C too.
    with get_context("spawn").Pool(args.workers) as pool:
        calls = [(n, at, args, prefix) for n in shares(args.n, args.workers)]
        return pool.starmap(drain_in_process, calls)


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.throttle", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--n", type=int, default=10_000, help="sends due at T")
    parser.add_argument("--rate", type=float, default=400.0, help="sends per second allowed")
    parser.add_argument("--workers", type=int, default=2, help="worker processes (Redis)")
    parser.add_argument("--concurrency", type=int, default=100, help="sends in flight per worker")
    parser.add_argument("--max-wait", type=float, default=0.25, help="seconds a send may wait")
    parser.add_argument("--local", action="store_true", help="LocalRateLimiter, one process")
    parser.add_argument(
        "--redis-url",
        default=os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0",
        help="default: $REDIS_URL, else redis://127.0.0.1:6379/0",
    )
    parser.add_argument("--timeout", type=float, help="seconds after T; default 2 N/R + 30")
    args = parser.parse_args(argv)
    if args.n < 1 or args.rate <= 0 or args.workers < 1 or args.concurrency < 1:
        parser.error("--n, --rate, --workers and --concurrency must be positive")
    if args.local:
        args.workers = 1
    if args.timeout is None:
        args.timeout = 2 * args.n / args.rate + 30
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(argv)
    mode = "one process, local limiter" if args.local else f"{args.workers} processes, Redis"
    say(f"{args.n} sends due at once, {args.rate:g}/s, {mode} ...")
    at = time.time() + START_DELAY
    try:
        results = run(args, at)
    except KeyboardInterrupt:
        say("interrupted")
        return 130
    report(args, at, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
