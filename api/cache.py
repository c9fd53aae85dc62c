"""A small async cache with a time to live, for figures that are costly and may be a little
stale (the dashboard's).

`RedisCache` shares entries between API processes when REDIS_URL is set; `MemoryCache`
keeps them in this process otherwise. Values are JSON. Keys are namespaced per business
with `business_key`, so one business can never read another's entry. A cache that cannot
be reached is a miss, never an error: the caller computes the value again.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

log = logging.getLogger(__name__)

PREFIX = "reminders:cache:"
MEMORY_MAX_ENTRIES = 10_000  # expired entries are pruned once this many are held


def business_key(business_id: uuid.UUID | str, *parts: object) -> str:
    """A key that belongs to one business: `biz:<id>:<part>:<part>...`."""
    return ":".join(["biz", str(business_id), *(str(part) for part in parts)])


class Cache(Protocol):
    async def get(self, key: str) -> Any | None: ...

    async def set(self, key: str, value: Any, ttl: float) -> None: ...


class MemoryCache:
    """This process's own entries; `clock` is injectable so tests can move time."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._entries: dict[str, tuple[float, str]] = {}

    async def get(self, key: str) -> Any | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        expires_at, raw = entry
        if self._clock() >= expires_at:
            self._entries.pop(key, None)
            return None
        return json.loads(raw)

    async def set(self, key: str, value: Any, ttl: float) -> None:
        if len(self._entries) >= MEMORY_MAX_ENTRIES:
            self._prune()
        # Stored as JSON text so a caller can never mutate a cached value in place.
        self._entries[key] = (self._clock() + ttl, json.dumps(value))

    def _prune(self) -> None:
        now = self._clock()
        for key in [k for k, (expires_at, _) in self._entries.items() if expires_at <= now]:
            del self._entries[key]
        if len(self._entries) >= MEMORY_MAX_ENTRIES:
            self._entries.clear()


class RedisCache:
    """Entries in Redis (shared by every API process), on a `redis.asyncio.Redis` client."""

    def __init__(self, redis: Any, prefix: str = PREFIX) -> None:
        self._redis = redis
        self._prefix = prefix

    async def get(self, key: str) -> Any | None:
        try:
            raw = await self._redis.get(self._prefix + key)
        except Exception as exc:  # any Redis failure: compute the value instead
            log.warning("cache get failed: %r", exc)
            return None
        return None if raw is None else json.loads(raw)

    async def set(self, key: str, value: Any, ttl: float) -> None:
        try:
            await self._redis.set(self._prefix + key, json.dumps(value), px=max(1, int(ttl * 1000)))
        except Exception as exc:
            log.warning("cache set failed: %r", exc)


def build_cache(redis: Any | None) -> Cache:
    """Redis when the app has a client (REDIS_URL set), else in-process memory."""
    return RedisCache(redis) if redis is not None else MemoryCache()


async def cached(cache: Cache, key: str, ttl: float, compute: Callable[[], Awaitable[Any]]) -> Any:
    """The cached JSON value under `key`, or `compute()`'s, stored for `ttl` seconds."""
    value = await cache.get(key)
    if value is None:
        value = await compute()
        await cache.set(key, value, ttl)
    return value
