"""Send rate limits: strict spacing per key, refusals that reserve nothing, shared via Redis.

The Redis tests run when REDIS_URL is set (e.g. redis://127.0.0.1:6379/0) and are skipped
otherwise. Slots are compared as `now + wait` on the limiter's own clock (the Redis
server's for Redis), never as elapsed wall-clock time.
"""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis
from redis.exceptions import RedisError

from core.ratelimit import (
    LocalRateLimiter,
    RedisRateLimiter,
    Reservation,
    build_rate_limiter,
)
from core.settings import Settings

REDIS_URL = os.environ.get("REDIS_URL")
needs_redis = pytest.mark.skipif(not REDIS_URL, reason="REDIS_URL is not set")
EPSILON = 2e-6  # seconds: microsecond timestamps near 1.8e9 s, held in doubles

Limiter = LocalRateLimiter | RedisRateLimiter


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(params=["local", pytest.param("redis", marks=needs_redis)])
async def workers(request: pytest.FixtureRequest) -> AsyncIterator[tuple[Limiter, Limiter]]:
    """Two workers sharing one limit: two Redis connections, or one process's limiter."""
    if request.param == "local":
        local = LocalRateLimiter()
        yield local, local
        await local.close()
        return
    assert REDIS_URL is not None
    prefix = f"test:rate:{uuid.uuid4().hex}:"
    first, second = RedisRateLimiter(REDIS_URL, prefix), RedisRateLimiter(REDIS_URL, prefix)
    yield first, second
    await first.close()
    await second.close()
    admin = Redis.from_url(REDIS_URL)
    keys = [key async for key in admin.scan_iter(match=prefix + "*")]
    if keys:
        await admin.delete(*keys)
    await admin.aclose()


async def reserve_many(
    limiters: tuple[Limiter, ...], n: int, rate: float, max_wait: float, key: str = "email"
) -> list[tuple[Reservation, float]]:
    """n concurrent reservations spread over the limiters; each with its slot (now + wait)."""
    results = await asyncio.gather(
        *(limiters[i % len(limiters)].reserve_with_clock(key, rate, max_wait) for i in range(n))
    )
    return [(reservation, now + reservation.wait) for reservation, now in results]


def gaps(times: list[float]) -> list[float]:
    ordered = sorted(times)
    return [b - a for a, b in zip(ordered, ordered[1:], strict=False)]


async def test_concurrent_reservations_from_two_workers_are_spaced_by_the_rate(
    workers: tuple[Limiter, Limiter],
) -> None:
    results = await reserve_many(workers, 40, rate=10, max_wait=60)

    assert all(reservation.granted for reservation, _ in results)  # none lost
    assert min(reservation.wait for reservation, _ in results) == 0  # the first goes at once
    slots = [slot for _, slot in results]
    # Strictly 1/rate apart and back to back: no slot shared, none skipped.
    assert all(gap == pytest.approx(0.1, abs=EPSILON) for gap in gaps(slots))


async def test_refused_request_reserves_nothing_and_is_told_when_to_come_back(
    workers: tuple[Limiter, Limiter],
) -> None:
    # At 1 per second with 2.5 s of patience, slots at +0, +1, +2 are granted; the rest
    # (assuming these calls take well under 0.5 s) would be more than 2.5 s away.
    results = await reserve_many(workers, 10, rate=1, max_wait=2.5)

    granted = [slot for reservation, slot in results if reservation.granted]
    refused = [(r, slot) for r, slot in results if not r.granted]
    assert len(granted) == 3
    assert all(gap == pytest.approx(1.0, abs=EPSILON) for gap in gaps(granted))
    assert len(refused) == 7
    assert all(reservation.wait > 0 for reservation, _ in refused)
    # The refused queue up behind the reserved slots: each is told to come back when its
    # place is max_wait away, one interval after the one refused before it.
    come_back = sorted(come_back for _, come_back in refused)  # now + wait
    assert come_back[0] == pytest.approx(max(granted) + 1.0 - 2.5, abs=EPSILON)
    assert all(gap == pytest.approx(1.0, abs=EPSILON) for gap in gaps(come_back))

    # A later, more patient request gets the slot the first refused one would have had.
    [(later, slot)] = await reserve_many(workers[1:], 1, rate=1, max_wait=60)
    assert later.granted
    assert slot == pytest.approx(max(granted) + 1.0, abs=EPSILON)


async def test_refused_request_is_granted_when_it_comes_back_after_its_wait(
    workers: tuple[Limiter, Limiter],
) -> None:
    first, second = workers
    reservation = await first.reserve("sms", 20, 0.1)
    while reservation.granted:  # fill the next 0.1 s
        reservation = await second.reserve("sms", 20, 0.1)

    await asyncio.sleep(reservation.wait)  # as Temporal would, before the retry

    again = await first.reserve("sms", 20, 0.1)
    assert again.granted
    assert again.wait <= 0.1


async def test_zero_rate_is_always_granted_at_once(workers: tuple[Limiter, Limiter]) -> None:
    results = await reserve_many(workers, 50, rate=0, max_wait=0)
    assert all(reservation == Reservation(True, 0.0) for reservation, _ in results)


async def test_keys_are_limited_independently(workers: tuple[Limiter, Limiter]) -> None:
    first, second = workers
    assert await first.reserve("email", 1, 10) == Reservation(True, 0.0)
    assert await second.reserve("sms", 1, 10) == Reservation(True, 0.0)
    assert (await second.reserve("email", 1, 10)).wait > 0


# -- the in-process limiter on a clock the test moves -----------------------------------------


async def test_local_limiter_drains_a_burst_at_the_rate() -> None:
    clock = FakeClock()
    limiter = LocalRateLimiter(clock)
    burst = [await limiter.reserve("email", 4, 0.5) for _ in range(5)]
    assert burst == [
        Reservation(True, 0.0),
        Reservation(True, 0.25),
        Reservation(True, 0.5),
        Reservation(False, 0.25),  # its slot, +0.75, is max_wait away in 0.25 s
        Reservation(False, 0.5),  # behind it in the queue: one interval later
    ]
    clock.now += 0.25  # the first refused one comes back
    assert await limiter.reserve("email", 4, 0.5) == Reservation(True, 0.5)
    clock.now += 0.25  # then the second
    assert await limiter.reserve("email", 4, 0.5) == Reservation(True, 0.5)


async def test_local_limiter_gives_no_burst_after_idle_time() -> None:
    clock = FakeClock()
    limiter = LocalRateLimiter(clock)
    await limiter.reserve("sms", 2, 10)
    clock.now += 60  # idle for a minute saves up no credit
    assert await limiter.reserve("sms", 2, 10) == Reservation(True, 0.0)
    assert await limiter.reserve("sms", 2, 10) == Reservation(True, 0.5)


async def test_local_limiter_forgets_refused_callers_once_idle() -> None:
    clock = FakeClock()
    limiter = LocalRateLimiter(clock)
    for _ in range(3):
        await limiter.reserve("sms", 1, 0)  # one granted, two refused that never return
    clock.now += 10
    await limiter.reserve("sms", 1, 0)  # idle: granted at once
    # Refused now, it is told to come back when its own slot is max_wait away, not after
    # the two that gave up.
    assert await limiter.reserve("sms", 1, 0) == Reservation(False, 1.0)


async def test_negative_max_wait_is_refused() -> None:
    with pytest.raises(ValueError, match="max_wait"):
        await LocalRateLimiter().reserve("email", 1, -1)


# -- Redis specifics ---------------------------------------------------------------------------


@needs_redis
async def test_redis_key_expires_after_its_last_slot() -> None:
    assert REDIS_URL is not None
    prefix = f"test:rate:{uuid.uuid4().hex}:"
    limiter = RedisRateLimiter(REDIS_URL, prefix)
    admin = Redis.from_url(REDIS_URL)
    try:
        for _ in range(3):
            await limiter.reserve("email", 1, 10)  # slots at +0, +1, +2: next free at +3
        ttl_ms = await admin.pttl(prefix + "email")
        assert 3000 < ttl_ms <= 3000 + 1000 + 1000  # past the last slot, plus a grace second
    finally:
        await admin.delete(prefix + "email")
        await admin.aclose()
        await limiter.close()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])  # free again, with nothing listening


async def test_unreachable_redis_raises_instead_of_letting_sends_through() -> None:
    limiter = RedisRateLimiter(f"redis://127.0.0.1:{closed_port()}/0")
    try:
        with pytest.raises(RedisError):
            await limiter.reserve("email", 5, 10)
        # No limit means no I/O: unlimited channels still send while Redis is down.
        assert await limiter.reserve("email", 0, 10) == Reservation(True, 0.0)
    finally:
        await limiter.close()


async def test_build_rate_limiter_shares_through_redis_only_when_configured() -> None:
    local = Settings(_env_file=None, REDIS_URL=None)  # type: ignore[call-arg]
    shared = Settings(_env_file=None, REDIS_URL="redis://127.0.0.1:6379/0")  # type: ignore[call-arg]
    for settings, kind in ((local, LocalRateLimiter), (shared, RedisRateLimiter)):
        limiter = build_rate_limiter(settings)
        assert isinstance(limiter, kind)
        await limiter.close()
