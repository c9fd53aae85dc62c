"""Registration, login and refresh-token rotation."""

from __future__ import annotations

import hmac
import uuid
from datetime import datetime, timedelta
from typing import NoReturn

from sqlalchemy.ext.asyncio import AsyncSession

from api.auth.schemas import RegisterRequest, TokenPair, UserRead
from api.errors import BadRequest, Conflict, Unauthorized
from api.throttle import LoginBlocked, Throttle, TooManyRequests
from core.enums import Role
from core.events import record_event
from core.models import Business, Membership, RefreshToken, User
from core.repositories.users import BusinessRepository, RefreshTokenRepository, UserRepository
from core.security import (
    InvalidToken,
    PasswordHasher,
    create_access_token,
    decode_password_reset_token,
    hash_refresh_token,
    new_refresh_token,
    password_reset_fingerprint,
)
from core.settings import Settings
from core.types import utcnow


def user_read(user: User) -> UserRead:
    read = UserRead.model_validate(user)
    if user.membership is not None:
        read.role = Role(user.membership.role)
        read.business_id = user.membership.business_id
    return read


async def issue_tokens(
    session: AsyncSession, user: User, settings: Settings, family_id: uuid.UUID | None = None
) -> TokenPair:
    raw = new_refresh_token()
    await RefreshTokenRepository(session).add(
        RefreshToken(
            user_id=user.id,
            token_hash=hash_refresh_token(raw),
            family_id=family_id or uuid.uuid4(),
            expires_at=utcnow() + timedelta(days=settings.REFRESH_TOKEN_EXPIRE_DAYS),
        )
    )
    access = create_access_token(user.id, settings.SECRET_KEY, settings.ACCESS_TOKEN_EXPIRE_MINUTES)
    return TokenPair(
        access_token=access,
        refresh_token=raw,
        expires_in=settings.ACCESS_TOKEN_EXPIRE_MINUTES * 60,
    )


async def register(
    session: AsyncSession,
    passwords: PasswordHasher,
    data: RegisterRequest,
    settings: Settings,
    ip: str | None,
) -> tuple[User, Business, TokenPair]:
    users = UserRepository(session)
    if await users.get_by_email(data.email) is not None:
        raise Conflict("An account with this email already exists")
    business = await BusinessRepository(session).add(
        Business(name=data.business_name, timezone=data.timezone, default_channels=["email"])
    )
    user = await users.add(
        User(
            email=data.email,
            hashed_password=await passwords.hash(data.password),
            full_name=data.full_name,
        )
    )
    await users.add_membership(
        Membership(business_id=business.id, user_id=user.id, role=Role.owner.value)
    )
    loaded = await users.get(user.id)  # reload with its membership
    assert loaded is not None
    user = loaded
    record_event(
        session,
        "user.registered",
        business_id=business.id,
        actor_user_id=user.id,
        subject_type="user",
        subject_id=user.id,
        payload={"email": user.email, "business_name": business.name},
        ip_address=ip,
    )
    tokens = await issue_tokens(session, user, settings)
    await session.commit()
    return user, business, tokens


async def authenticate(
    session: AsyncSession, passwords: PasswordHasher, email: str, password: str, ip: str | None
) -> User:
    """The active user with this email and password; a failure is recorded and committed,
    then answered with 401 (the same words whether or not the email exists)."""
    user = await UserRepository(session).get_by_email(email.strip())
    # For an unknown email too, as slow as a wrong password: emails stay secret.
    matches = await passwords.verify(password, user.hashed_password if user else None)
    failure = None
    if user is None:
        failure = "unknown_email"
    elif not matches:
        failure = "wrong_password"
    elif not user.is_active:
        failure = "deactivated"
    if failure is not None:
        # Recorded and committed here: the request fails, so nothing else would commit it.
        # The reason stays in the log; the answer does not say whether the email exists.
        record_event(
            session,
            "auth.login_failed",
            business_id=user.membership.business_id if user and user.membership else None,
            subject_type="user",
            subject_id=user.id if user else None,
            payload={"email": email.strip().lower()[:320], "reason": failure},
            ip_address=ip,
        )
        await session.commit()
    if user is None or failure == "wrong_password":
        raise Unauthorized("Incorrect email or password")
    if not user.is_active:
        raise Unauthorized("This account is deactivated")
    user.last_login_at = utcnow()
    return user


async def authenticate_throttled(
    session: AsyncSession,
    throttle: Throttle,
    passwords: PasswordHasher,
    email: str,
    password: str,
    ip: str | None,
) -> User:
    """`authenticate` within the sign-in limits: past them the attempt is recorded and
    refused with 429 before the password is looked at, so a right one is refused too. A
    success is not committed: it is a step of `login` (and of the web sign-in)."""
    attempt = await throttle.begin_login(email, ip)
    if isinstance(attempt, LoginBlocked):
        user = await UserRepository(session).get_by_email(email.strip())
        record_event(
            session,
            "auth.login_throttled",
            business_id=user.membership.business_id if user and user.membership else None,
            subject_type="user",
            subject_id=user.id if user else None,
            payload={
                "email": email.strip().lower()[:320],
                "limit": attempt.limit,
                "retry_after": attempt.retry_after,
            },
            ip_address=ip,
        )
        await session.commit()  # the request fails: nothing else would commit it
        raise TooManyRequests(attempt.detail, attempt.retry_after)
    # A failure keeps its count; a success gives back the address's attempt.
    user = await authenticate(session, passwords, email, password, ip)
    await throttle.login_succeeded(attempt)
    return user


async def login(
    session: AsyncSession,
    throttle: Throttle,
    passwords: PasswordHasher,
    email: str,
    password: str,
    settings: Settings,
    ip: str | None,
) -> TokenPair:
    user = await authenticate_throttled(session, throttle, passwords, email, password, ip)
    pair = await issue_tokens(session, user, settings)
    await session.commit()
    return pair


async def refresh(session: AsyncSession, raw_token: str, settings: Settings) -> TokenPair:
    tokens = RefreshTokenRepository(session)
    stored = await tokens.get_by_hash(hash_refresh_token(raw_token))
    now = utcnow()
    if stored is None:
        raise Unauthorized("Invalid refresh token")
    if stored.used_at is not None or stored.revoked_at is not None:
        await _reused(session, stored, now)
    if stored.expires_at <= now:
        raise Unauthorized("Refresh token expired")
    user = await UserRepository(session).get(stored.user_id)
    if user is None or not user.is_active:
        raise Unauthorized("Invalid refresh token")
    if not await tokens.use(stored.id, now):
        await _reused(session, stored, now)  # a parallel request used it first
    pair = await issue_tokens(session, user, settings, family_id=stored.family_id)
    await session.commit()
    return pair


async def _reused(session: AsyncSession, stored: RefreshToken, now: datetime) -> NoReturn:
    """A rotated token presented again means it leaked: end the whole family (the new
    tokens of whoever used it first included), record it, commit and refuse."""
    await RefreshTokenRepository(session).revoke_family(stored.family_id, now)
    record_event(
        session,
        "auth.refresh_token_reused",
        actor_user_id=stored.user_id,
        subject_type="user",
        subject_id=stored.user_id,
    )
    await session.commit()  # the request fails: nothing else would commit it
    raise Unauthorized("Refresh token already used or revoked")


async def logout(session: AsyncSession, raw_token: str) -> None:
    stored = await RefreshTokenRepository(session).get_by_hash(hash_refresh_token(raw_token))
    if stored is None:
        return  # logging out twice is not an error
    if stored.revoked_at is None:
        stored.revoked_at = utcnow()
    await session.commit()


async def reset_password(
    session: AsyncSession,
    passwords: PasswordHasher,
    token: str,
    password: str,
    settings: Settings,
    ip: str | None,
) -> None:
    """Set a new password with a reset token (a superuser issued it, or it was emailed to
    the user who forgot their password). The token names the password hash it was made
    for, so it works once; 400 for one used, expired or forged, or a deleted account's."""
    try:
        user_id, fingerprint = decode_password_reset_token(token, settings.SECRET_KEY)
    except InvalidToken as exc:
        raise BadRequest(f"Password reset failed: {exc}") from None
    user = await UserRepository(session).get(user_id)
    if (
        user is None
        or user.deleted_at is not None
        or not hmac.compare_digest(fingerprint, password_reset_fingerprint(user.hashed_password))
    ):
        raise BadRequest(
            "Password reset failed: this link was already used, or the password has "
            "changed since it was issued; ask for a new one"
        )
    await set_password(session, passwords, user, password, "user.password_reset", ip)
    await session.commit()


async def set_password(
    session: AsyncSession,
    passwords: PasswordHasher,
    user: User,
    password: str,
    action: str,
    ip: str | None = None,
) -> None:
    """Give the user a new password, recorded as `action`. It ends every session: refresh
    tokens now, web sessions by their password fingerprint. The caller commits."""
    user.hashed_password = await passwords.hash(password)
    await RefreshTokenRepository(session).revoke_all_for_user(user.id, utcnow())
    record_event(
        session,
        action,
        business_id=user.membership.business_id if user.membership else None,
        actor_user_id=user.id,
        subject_type="user",
        subject_id=user.id,
        ip_address=ip,
    )
