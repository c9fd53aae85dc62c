"""Send rate limits per channel, shared by every worker process.

Each send reserves a slot before it calls the provider. Slots of one key are strictly
1/rate apart (burst 1: Twilio and SMTP relays count messages per second): a reservation
takes slot = max(now, next_free). If the slot is at most `max_wait` away, next_free moves
to slot + 1/rate and the caller sleeps `wait` = slot - now, then sends. Otherwise nothing
is reserved and the caller is told when to come back: it joins a virtual queue of refused
callers behind every reserved slot and every caller refused before it, and `wait` is the
time until its place in that queue is `max_wait` away. A burst of 10,000 refused sends
therefore comes back spread out at the provider's rate instead of all at once, and one
that comes back after its `wait` is granted unless newer callers got there first. That
queue is only advice: it holds no slot, and it is forgotten when the limit falls idle, so
callers that never come back delay the others only until then.

`RedisRateLimiter` keeps the state in Redis and decides in one Lua script on the Redis
server's clock, so workers on several hosts share one limit. If Redis cannot be reached
`reserve` raises (a `redis.exceptions.RedisError`); it never lets sends through unlimited.
`LocalRateLimiter` holds the same state in memory, for a single worker (REDIS_URL unset).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from core.settings import Settings

REDIS_TIMEOUT = 3.0  # seconds, to connect and per command, like the API's Redis client
KEY_GRACE_MS = 1000  # an idle key outlives its last slot by this much, then vanishes
LOCAL_PRUNE_AT = 1024  # keys held in memory before idle ones are dropped


@dataclass(frozen=True)
class Reservation:
    granted: bool
    wait: float  # seconds: until the reserved slot if granted; else until a slot could be reserved


class RateLimiter(Protocol):
    async def reserve(self, key: str, rate_per_second: float, max_wait: float) -> Reservation: ...

    async def close(self) -> None: ...


def _check(max_wait: float) -> None:
    if not 0 <= max_wait < math.inf:
        raise ValueError(f"max_wait must be a non-negative number of seconds, not {max_wait}")


class LocalRateLimiter:
    """One process's limiter: safe across tasks and threads, on a monotonic clock."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()  # no await inside: it is never held across a switch
        self._state: dict[str, tuple[float, float]] = {}  # key -> (next_free, queue_back)

    async def reserve(self, key: str, rate_per_second: float, max_wait: float) -> Reservation:
        reservation, _ = await self.reserve_with_clock(key, rate_per_second, max_wait)
        return reservation

    async def reserve_with_clock(
        self, key: str, rate_per_second: float, max_wait: float
    ) -> tuple[Reservation, float]:
        """`reserve`, and this limiter's clock when it decided: `now + wait` is the slot."""
        _check(max_wait)
        with self._lock:
            now = self._clock()
            if rate_per_second <= 0:
                return Reservation(True, 0.0), now
            interval = 1.0 / rate_per_second
            free, back = self._state.get(key, (now, 0.0))
            slot = max(now, free)
            if slot - now <= max_wait:
                if free <= now:
                    back = 0.0  # idle: nobody refused is still waiting for a slot
                self._store(key, (slot + interval, back), now)
                return Reservation(True, slot - now), now
            place = max(free, back)
            self._store(key, (free, place + interval), now)
            return Reservation(False, place - max_wait - now), now

    def _store(self, key: str, state: tuple[float, float], now: float) -> None:
        self._state[key] = state
        if len(self._state) > LOCAL_PRUNE_AT:
            self._state = {k: v for k, v in self._state.items() if max(v) > now}

    async def close(self) -> None:
        self._state.clear()


# Times are integer microseconds on the server's clock; doubles hold them exactly (< 2^53).
# Written with %.0f: Lua's tostring would shorten 16 digits to 14 significant ones.
RESERVE_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local max_wait = tonumber(ARGV[2])
local state = redis.call('HMGET', KEYS[1], 'free', 'back')
local free = tonumber(state[1]) or now
local back = tonumber(state[2]) or 0
local slot = math.max(now, free)
local granted = 0
local wait
if slot - now <= max_wait then
  if free <= now then back = 0 end
  free = slot + interval
  granted = 1
  wait = slot - now
else
  local place = math.max(free, back)
  back = place + interval
  wait = place - max_wait - now
end
redis.call('HSET', KEYS[1], 'free', string.format('%.0f', free),
  'back', string.format('%.0f', back))
local ttl = math.ceil((math.max(free, back) - now) / 1000) + tonumber(ARGV[3])
redis.call('PEXPIRE', KEYS[1], string.format('%.0f', ttl))
return {granted, wait, now}
"""


class RedisRateLimiter:
    """A limit shared by every process that uses the same Redis and prefix."""

    def __init__(self, redis_url: str, prefix: str = "reminders:rate:") -> None:
        from redis.asyncio import Redis
        from redis.asyncio.retry import Retry
        from redis.backoff import ExponentialBackoff

        # Few, quick retries: the activity retries through Temporal anyway. A retried call
        # that had in fact run wastes one slot, which only slows sends down.
        self._redis: Any = Redis.from_url(
            redis_url,
            socket_timeout=REDIS_TIMEOUT,
            socket_connect_timeout=REDIS_TIMEOUT,
            retry=Retry(ExponentialBackoff(cap=0.5, base=0.05), retries=2),
        )
        self._script = self._redis.register_script(RESERVE_LUA)
        self._prefix = prefix

    async def reserve(self, key: str, rate_per_second: float, max_wait: float) -> Reservation:
        reservation, _ = await self.reserve_with_clock(key, rate_per_second, max_wait)
        return reservation

    async def reserve_with_clock(
        self, key: str, rate_per_second: float, max_wait: float
    ) -> tuple[Reservation, float]:
        """`reserve`, and the Redis server's Unix time when it decided: `now + wait` is the
        slot on the one clock every worker shares (the local clock when the rate is 0)."""
        _check(max_wait)
        if rate_per_second <= 0:
            return Reservation(True, 0.0), time.time()
        interval_us = max(1, math.ceil(round(1_000_000 / rate_per_second, 6)))
        granted, wait_us, now_us = await self._script(
            keys=[self._prefix + key], args=[interval_us, int(max_wait * 1_000_000), KEY_GRACE_MS]
        )
        return Reservation(bool(granted), wait_us / 1_000_000), now_us / 1_000_000

    async def close(self) -> None:
        await self._redis.aclose()


def build_rate_limiter(settings: Settings) -> RateLimiter:
    """Shared through Redis when REDIS_URL is set, else this process's own."""
    if settings.REDIS_URL:
        return RedisRateLimiter(settings.REDIS_URL)
    return LocalRateLimiter()
