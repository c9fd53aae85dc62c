"""Request throttles: sign-in attempts per account and per client address, API calls per user.

Counters live in Redis when REDIS_URL is set, so every API process shares them, else in
this process (the `limits` library's fixed windows in both cases). A sign-in reserves its
attempt before the password is checked, so parallel guesses cannot slip past the limit;
a successful one clears its account's count and gives back its address's attempt.

When Redis cannot be reached the sign-in limits go on in this process's memory (a brute
force is never let through unlimited), while the API limit lets requests through with a
warning rather than take the API down. Redis is then left alone for a few seconds, so a
dead Redis does not add its timeout to every request.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from limits import RateLimitItem, RateLimitItemPerSecond, parse
from limits.aio.storage import MemoryStorage, RedisStorage
from limits.aio.strategies import FixedWindowRateLimiter
from limits.errors import StorageError
from redis.exceptions import RedisError

from api.errors import AppError
from core.settings import Settings

log = logging.getLogger(__name__)

REDIS_TIMEOUT = 1.0  # seconds, to connect and per command: a throttle must stay quick
REDIS_RETRY_AFTER = 5.0  # seconds Redis is left alone after it failed
KEY_PREFIX = "reminders:throttle"

T = TypeVar("T")
Key = tuple[str, str]


class TooManyRequests(AppError):
    status_code = 429
    default_detail = "Too many requests"

    def __init__(self, detail: str, retry_after: int) -> None:
        super().__init__(detail, headers={"Retry-After": str(retry_after)})
        self.retry_after = retry_after


@dataclass(frozen=True)
class LoginBlocked:
    """Why a sign-in attempt was refused, and for how many more seconds."""

    limit: str  # "account" or "ip"
    retry_after: int

    @property
    def detail(self) -> str:
        who = "for this account" if self.limit == "account" else "from your network address"
        return (
            f"Too many failed sign-in attempts {who}; try again in {self.retry_after} seconds. "
            "Until then every attempt is refused, even with the right password."
        )


def _digest(email: str) -> str:
    # Emails are not written to Redis as they are, and every key has the same length.
    return hashlib.sha256(email.strip().lower().encode()).hexdigest()[:32]


def _redis_uri(url: str) -> str:
    if url.startswith("unix://"):
        return "async+redis+unix://" + url.removeprefix("unix://")
    return "async+" + url


class Throttle:
    """The limits of one app, from its settings; `close` it when the app stops."""

    def __init__(self, settings: Settings, key_prefix: str = KEY_PREFIX) -> None:
        window = settings.LOGIN_FAILURE_WINDOW_SECONDS
        self.account_limit = RateLimitItemPerSecond(settings.LOGIN_MAX_FAILURES_PER_ACCOUNT, window)
        self.ip_limit = RateLimitItemPerSecond(settings.LOGIN_MAX_FAILURES_PER_IP, window)
        self.api_limit = parse(settings.API_RATE_LIMIT)
        self._local = FixedWindowRateLimiter(MemoryStorage())
        self._redis: Any = None
        self._shared: FixedWindowRateLimiter | None = None
        self._redis_down_until = 0.0
        if settings.REDIS_URL:
            from redis.asyncio import Redis
            from redis.asyncio.retry import Retry
            from redis.backoff import NoBackoff

            self._redis = Redis.from_url(
                settings.REDIS_URL,
                socket_timeout=REDIS_TIMEOUT,
                socket_connect_timeout=REDIS_TIMEOUT,
                retry=Retry(NoBackoff(), 0),
            )
            storage = RedisStorage(
                _redis_uri(settings.REDIS_URL),
                wrap_exceptions=True,
                implementation="redispy",
                key_prefix=key_prefix,
                connection_pool=self._redis.connection_pool,
            )
            self._shared = FixedWindowRateLimiter(storage)

    async def close(self) -> None:
        if self._redis is not None:
            await self._redis.aclose()

    # -- sign-in --------------------------------------------------------------------------

    def _login_keys(self, email: str, ip: str | None) -> list[tuple[RateLimitItem, Key]]:
        keys: list[tuple[RateLimitItem, Key]] = [
            (self.account_limit, ("login-account", _digest(email)))
        ]
        if ip:
            keys.insert(0, (self.ip_limit, ("login-ip", ip)))
        return keys

    async def begin_login(self, email: str, ip: str | None) -> LoginBlocked | None:
        """Reserve one attempt for this account and address; None when it may go ahead."""
        keys = self._login_keys(email, ip)
        return await self._login(lambda limiter: _reserve(limiter, keys))

    async def login_succeeded(self, email: str, ip: str | None) -> None:
        """Clear the account's failures and give back the address's attempt."""

        async def forget(limiter: FixedWindowRateLimiter) -> None:
            for item, key in self._login_keys(email, ip):
                if item is self.account_limit:
                    await limiter.clear(item, *key)
                else:
                    await limiter.hit(item, *key, cost=-1)

        await self._login(forget)

    async def _login(self, op: Callable[[FixedWindowRateLimiter], Awaitable[T]]) -> T:
        ok, result = await self._on_shared(op)
        if ok:
            return result  # type: ignore[return-value]
        return await op(self._local)

    # -- API calls ------------------------------------------------------------------------

    async def api_call(self, user_id: str) -> int | None:
        """Count one API request of this user; None when allowed, else seconds to wait."""
        key = ("api-user", user_id)

        async def count(limiter: FixedWindowRateLimiter) -> int | None:
            if await limiter.hit(self.api_limit, *key):
                return None
            return await _seconds_left(limiter, self.api_limit, key)

        if self._shared is None:
            return await count(self._local)
        _, wait = await self._on_shared(count)
        return wait  # None also when Redis failed: fail open

    # -- Redis, while it answers ----------------------------------------------------------

    async def _on_shared(
        self, op: Callable[[FixedWindowRateLimiter], Awaitable[T]]
    ) -> tuple[bool, T | None]:
        """(True, op's answer) on the shared counters; (False, None) without them."""
        if self._shared is None or time.monotonic() < self._redis_down_until:
            return False, None
        try:
            return True, await op(self._shared)
        except (StorageError, RedisError, OSError) as exc:
            self._redis_down_until = time.monotonic() + REDIS_RETRY_AFTER
            log.warning(
                "throttle: Redis unreachable (%r); sign-in limits count in this process and "
                "the API rate limit is off for %.0f s",
                exc,
                REDIS_RETRY_AFTER,
            )
            return False, None


async def _seconds_left(limiter: FixedWindowRateLimiter, item: RateLimitItem, key: Key) -> int:
    stats = await limiter.get_window_stats(item, *key)
    return max(1, math.ceil(stats.reset_time - time.time()))


async def _reserve(
    limiter: FixedWindowRateLimiter, keys: list[tuple[RateLimitItem, Key]]
) -> LoginBlocked | None:
    """Take one attempt from every limit, or none of them and say which is used up."""
    for item, key in keys:  # a refused attempt costs nothing
        if not await limiter.test(item, *key):
            return LoginBlocked(
                key[0].removeprefix("login-"), await _seconds_left(limiter, item, key)
            )
    taken: list[tuple[RateLimitItem, Key]] = []
    for item, key in keys:
        taken.append((item, key))
        if not await limiter.hit(item, *key):  # a parallel attempt took the last one
            wait = await _seconds_left(limiter, item, key)
            for given_item, given_key in taken:  # a hit counts even when refused
                await limiter.hit(given_item, *given_key, cost=-1)
            return LoginBlocked(key[0].removeprefix("login-"), wait)
    return None
