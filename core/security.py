"""Password hashing (bcrypt through libpass) and access tokens (HS256 JWT, algorithm pinned)."""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import string
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any, TypeVar

from jose import ExpiredSignatureError, JWTError, jwt
from passlib.context import CryptContext

from core.types import utcnow

JWT_ALGORITHM = "HS256"
# bcrypt only reads the first 72 bytes of a password; longer ones are refused up front
# rather than silently truncated (two passwords sharing 72 bytes would otherwise match).
BCRYPT_MAX_BYTES = 72
MIN_PASSWORD_LENGTH = 8

_pwd_context = CryptContext(schemes=["bcrypt"], deprecated="auto")
# A real hash to compare against when the account does not exist, so a wrong email
# costs the same time as a wrong password.
_DUMMY_HASH = _pwd_context.hash("not-a-real-password-" + secrets.token_hex(8))


T = TypeVar("T")


class InvalidToken(Exception):
    pass


class PasswordHashingBusy(Exception):
    """A hash was asked for while every password thread is busy and the queue is full."""

    status_code = 503
    retry_after = 1  # seconds: each hash that ends, a quarter of a second each, frees a place
    detail = "Too many passwords are being checked at once; try again in a second"

    def __init__(self) -> None:
        super().__init__(self.detail)


def password_problem(password: str) -> str | None:
    """Why a password is unacceptable, or None when it is fine."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"password must be at least {MIN_PASSWORD_LENGTH} characters"
    if len(password.encode("utf-8")) > BCRYPT_MAX_BYTES:
        return f"password must be at most {BCRYPT_MAX_BYTES} bytes (UTF-8)"
    if password.isdigit() or password.isalpha() and password.lower() == password:
        return "password must mix letters with digits, capitals or symbols"
    return None


def hash_password(password: str) -> str:
    return _pwd_context.hash(password)


def verify_password(password: str, hashed: str | None) -> bool:
    """Whether `password` is the one `hashed` was made from; one that could never have been
    set (too long for bcrypt, or holding a NUL byte) is wrong, in the same time."""
    if len(password.encode("utf-8")) > BCRYPT_MAX_BYTES or "\x00" in password:
        _pwd_context.verify("x", _DUMMY_HASH)
        return False
    if hashed is None:
        _pwd_context.verify(password, _DUMMY_HASH)
        return False
    try:
        return _pwd_context.verify(password, hashed)
    except ValueError:
        return False


class PasswordHasher:
    """`hash_password` and `verify_password` off the event loop, on threads of their own.

    A bcrypt hash is a quarter of a second of CPU: on the loop, a few sign-ins a second
    would hold up every other request. bcrypt releases the GIL, so the loop keeps serving
    while they run. At most `threads` run and `max_waiting` wait; one more is refused at
    once (PasswordHashingBusy) rather than queued without end."""

    def __init__(self, threads: int, max_waiting: int) -> None:
        self._threads = threads
        self._pool: ThreadPoolExecutor | None = None  # made on first use, again after close
        self._capacity = threads + max_waiting
        self._pending = 0
        self._lock = threading.Lock()  # released from the pool's threads

    async def hash(self, password: str) -> str:
        return await self._run(hash_password, password)

    async def verify(self, password: str, hashed: str | None) -> bool:
        """As long for an unknown account (`hashed` None) as for a wrong password."""
        return await self._run(verify_password, password, hashed)

    def close(self) -> None:
        """Let the threads end (an app's lifespan may start again: a new pool then)."""
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None

    async def _run(self, work: Callable[..., T], *args: Any) -> T:
        with self._lock:
            if self._pending >= self._capacity:
                raise PasswordHashingBusy
            self._pending += 1
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self._threads, thread_name_prefix="bcrypt")
        future = self._pool.submit(work, *args)
        # Counted until the hash itself ends, even if the request waiting for it is gone.
        future.add_done_callback(self._release)
        return await asyncio.wrap_future(future)

    def _release(self, _: Future[Any]) -> None:
        with self._lock:
            self._pending -= 1


def create_access_token(
    user_id: uuid.UUID, secret_key: str, expires_minutes: int, now: datetime | None = None
) -> str:
    issued = now or utcnow()
    claims: dict[str, Any] = {
        "sub": str(user_id),
        "type": "access",
        "iat": int(issued.timestamp()),
        "exp": int((issued + timedelta(minutes=expires_minutes)).timestamp()),
        "jti": secrets.token_hex(8),
    }
    return jwt.encode(claims, secret_key, algorithm=JWT_ALGORITHM)


def decode_access_token(token: str, secret_key: str) -> uuid.UUID:
    """The user id in a valid access token; InvalidToken for anything else."""
    try:
        # Without an expiry a token would never end: one without `exp` is refused.
        claims = jwt.decode(
            token,
            secret_key,
            algorithms=[JWT_ALGORITHM],
            options={"require_exp": True, "require_sub": True},
        )
    except (JWTError, ValueError, TypeError) as exc:
        raise InvalidToken(str(exc)) from exc
    if claims.get("type") != "access":
        raise InvalidToken("not an access token")
    try:
        return uuid.UUID(str(claims["sub"]))
    except (KeyError, ValueError) as exc:
        raise InvalidToken("bad subject") from exc


def new_refresh_token() -> str:
    return secrets.token_urlsafe(48)


def hash_refresh_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


# API keys: `rk_live_`, 8 characters shown in lists, then 40 secret ones (about 238 bits).
API_KEY_PREFIX = "rk_live_"
_KEY_ALPHABET = string.ascii_letters + string.digits
API_KEY_LENGTH = len(API_KEY_PREFIX) + 8 + 40


def new_api_key() -> str:
    return API_KEY_PREFIX + "".join(secrets.choice(_KEY_ALPHABET) for _ in range(48))


def api_key_prefix(key: str) -> str:
    """What lists show of a key: enough to recognise it, nothing to use."""
    return key[: len(API_KEY_PREFIX) + 8]


def looks_like_api_key(value: str) -> bool:
    return value.startswith(API_KEY_PREFIX)


def hash_api_key(key: str) -> str:
    # A plain SHA-256 is enough: the key is random and long, not a password to guess.
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def generate_password() -> str:
    return secrets.token_urlsafe(15) + "A1"


PASSWORD_RESET = "password_reset"


def password_fingerprint(hashed_password: str, purpose: str) -> str:
    """Names the password a token or session was made with, per purpose: once the password
    changes, whatever carries the old fingerprint no longer matches."""
    return hashlib.sha256(f"{purpose}:{hashed_password}".encode()).hexdigest()[:32]


def password_reset_fingerprint(hashed_password: str) -> str:
    """A reset token dies once used (the password changed) or when the user changes it."""
    return password_fingerprint(hashed_password, "password-reset")


def create_password_reset_token(
    user_id: uuid.UUID, hashed_password: str, secret_key: str, expires_at: datetime
) -> str:
    claims: dict[str, Any] = {
        "sub": str(user_id),
        "type": PASSWORD_RESET,
        "pwd": password_reset_fingerprint(hashed_password),
        "iat": int(utcnow().timestamp()),
        "exp": int(expires_at.timestamp()),
        "jti": secrets.token_hex(8),
    }
    return jwt.encode(claims, secret_key, algorithm=JWT_ALGORITHM)


def decode_password_reset_token(token: str, secret_key: str) -> tuple[uuid.UUID, str]:
    """The user id and password fingerprint in a valid reset token; InvalidToken (saying
    why) for an expired, forged or other kind of token."""
    try:
        claims = jwt.decode(
            token,
            secret_key,
            algorithms=[JWT_ALGORITHM],
            options={"require_exp": True, "require_sub": True},
        )
    except ExpiredSignatureError as exc:
        raise InvalidToken("this password reset link has expired") from exc
    except (JWTError, ValueError, TypeError) as exc:
        raise InvalidToken("this password reset link is not valid") from exc
    if claims.get("type") != PASSWORD_RESET or not isinstance(claims.get("pwd"), str):
        raise InvalidToken("this is not a password reset link")
    try:
        return uuid.UUID(str(claims["sub"])), claims["pwd"]
    except (KeyError, ValueError) as exc:
        raise InvalidToken("this password reset link is not valid") from exc
