"""Password hashing (bcrypt through libpass) and access tokens (HS256 JWT, algorithm pinned)."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from datetime import datetime, timedelta
from typing import Any

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


class InvalidToken(Exception):
    pass


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
    if len(password.encode("utf-8")) > BCRYPT_MAX_BYTES:
        _pwd_context.verify("x", _DUMMY_HASH)
        return False
    if hashed is None:
        _pwd_context.verify(password, _DUMMY_HASH)
        return False
    try:
        return _pwd_context.verify(password, hashed)
    except ValueError:
        return False


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
