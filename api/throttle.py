"""Request throttles: sign-in attempts per account and per client address, registrations per
address, "forgot password" requests per address and per email, API calls per user.

Counters live in Redis when REDIS_URL is set, so every API process shares them, else in
this process (the `limits` library's fixed windows in both cases). A sign-in reserves its
attempt before the password is checked, so parallel guesses cannot slip past the limit;
a successful one clears its account's count and gives back its address's attempt.

An address's sign-in attempts are counted in windows aligned to the clock, each under a
key of its own, and an address is refused while its failures in the current window and
the one before reach the limit. So a success gives its attempt back to the very window it
was taken from (a password check can outlast a window: given to the next one it would be
an extra failure allowed, never a refund), and no burst across a window's end gets twice
the limit.

When Redis cannot be reached the sign-in and registration limits go on in this process's
memory (a brute force is never let through unlimited), while the API limit lets requests
through with a warning rather than take the API down. Redis is then left alone for a few
seconds, so a dead Redis does not add its timeout to every request.
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
class LoginAttempt:
    """An attempt `begin_login` let through: where it was counted, so that a success gives
    it back there and nowhere else."""

    account: Key
    ip: Key | None  # the address's window it was counted in
    shared: bool  # in Redis, else in this process


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


def _ip_key(address: str, window: int) -> Key:
    return ("login-ip", f"{address}@{window}")


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
        self.ip_window = window
        # Kept for two windows: it is read as the previous one during the next.
        self.ip_limit = RateLimitItemPerSecond(settings.LOGIN_MAX_FAILURES_PER_IP, 2 * window)
        self.registration_limit = parse(settings.REGISTRATIONS_PER_IP)
        self.forgot_ip_limit = parse(settings.FORGOT_PASSWORD_PER_IP)
        self.forgot_email_limit = parse(settings.FORGOT_PASSWORD_PER_EMAIL)
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

    async def begin_login(self, email: str, ip: str | None) -> LoginAttempt | LoginBlocked:
        """Reserve one attempt for this account and address, or say which limit refuses it
        (a refused attempt costs nothing)."""
        now = time.time()
        window = int(now // self.ip_window)
        account = ("login-account", _digest(email))

        async def reserve(limiter: FixedWindowRateLimiter) -> LoginBlocked | None:
            blocked = await self._take_ip(limiter, ip, window, now) if ip else None
            if blocked is None:
                blocked = await self._take_account(limiter, account)
                if blocked is not None and ip:
                    await _add(limiter, self.ip_limit, _ip_key(ip, window), -1)
            return blocked

        shared, blocked = await self._counted(reserve)
        return blocked or LoginAttempt(account, _ip_key(ip, window) if ip else None, shared)

    async def login_succeeded(self, attempt: LoginAttempt) -> None:
        """Clear the account's failures and give the address back its attempt, in the window
        and the store it was counted in."""

        async def forget(limiter: FixedWindowRateLimiter) -> None:
            await limiter.clear(self.account_limit, *attempt.account)
            if attempt.ip is not None:
                await _add(limiter, self.ip_limit, attempt.ip, -1)

        if attempt.shared:
            await self._on_shared(forget)  # Redis gone since: the attempt stays counted
        else:
            await forget(self._local)

    async def _take_ip(
        self, limiter: FixedWindowRateLimiter, address: str, window: int, now: float
    ) -> LoginBlocked | None:
        here, limit = _ip_key(address, window), self.ip_limit
        earlier = await _count(limiter, limit, _ip_key(address, window - 1))
        if earlier + await _count(limiter, limit, here) < limit.amount:
            # The count as this attempt left it: of parallel attempts, only those within
            # the limit go ahead.
            if earlier + await _add(limiter, limit, here, 1) <= limit.amount:
                return None
            await _add(limiter, limit, here, -1)
        full = await _count(limiter, limit, here) >= limit.amount  # then wait a window more
        until = (window + (2 if full else 1)) * self.ip_window
        return LoginBlocked("ip", max(1, math.ceil(until - now)))

    async def _take_account(
        self, limiter: FixedWindowRateLimiter, account: Key
    ) -> LoginBlocked | None:
        if await limiter.test(self.account_limit, *account):
            if await limiter.hit(self.account_limit, *account):
                return None
            # A parallel attempt took the last one; a refused hit counts, so undo it.
            await limiter.hit(self.account_limit, *account, cost=-1)
        return LoginBlocked("account", await _seconds_left(limiter, self.account_limit, account))

    # -- registration ---------------------------------------------------------------------

    async def registration(self, ip: str | None) -> int | None:
        """Count one registration attempt from this address, whatever its outcome; None when
        allowed, else seconds to wait."""
        key = ("register-ip", ip or "unknown")

        async def count(limiter: FixedWindowRateLimiter) -> int | None:
            if await limiter.hit(self.registration_limit, *key):
                return None
            return await _seconds_left(limiter, self.registration_limit, key)

        _, wait = await self._counted(count)
        return wait

    async def forgot_password(self, ip: str | None, email: str) -> int | None:
        """Count one "forgot password" request from this address for this email, whatever
        the email is (known or not: the answer must not tell); None when allowed, else
        seconds to wait."""
        by_ip = ("forgot-ip", ip or "unknown")
        by_email = ("forgot-email", _digest(email))

        async def count(limiter: FixedWindowRateLimiter) -> int | None:
            for limit, key in ((self.forgot_ip_limit, by_ip), (self.forgot_email_limit, by_email)):
                if not await limiter.hit(limit, *key):
                    return await _seconds_left(limiter, limit, key)
            return None

        _, wait = await self._counted(count)
        return wait

    async def _counted(
        self, op: Callable[[FixedWindowRateLimiter], Awaitable[T]]
    ) -> tuple[bool, T]:
        """`op` on the shared counters (True), or on this process's (False) when there are
        none or Redis fails: these limits never go unlimited."""
        ok, result = await self._on_shared(op)
        if ok:
            return True, result  # type: ignore[return-value]
        return False, await op(self._local)

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
                "throttle: Redis unreachable (%r); sign-in and registration limits count in "
                "this process and the API rate limit is off for %.0f s",
                exc,
                REDIS_RETRY_AFTER,
            )
            return False, None


async def _seconds_left(limiter: FixedWindowRateLimiter, item: RateLimitItem, key: Key) -> int:
    stats = await limiter.get_window_stats(item, *key)
    return max(1, math.ceil(stats.reset_time - time.time()))


async def _count(limiter: FixedWindowRateLimiter, item: RateLimitItem, key: Key) -> int:
    # Never below zero: a counter given back after it expired starts again at -1.
    return max(0, await limiter.storage.get(item.key_for(*key)))


async def _add(limiter: FixedWindowRateLimiter, item: RateLimitItem, key: Key, amount: int) -> int:
    """Change a counter by `amount`; its new value (one step, so parallel callers each see
    their own)."""
    return await limiter.storage.incr(item.key_for(*key), item.get_expiry(), amount=amount)
