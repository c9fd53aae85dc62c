"""Create (or find) the superuser that runs the platform: `reminders create-admin` and `make dev`."""

from __future__ import annotations

from dataclasses import dataclass

from email_validator import EmailNotValidError, validate_email
from sqlalchemy.ext.asyncio import AsyncSession

from core.db import create_engine, create_sessionmaker
from core.events import record_event
from core.models import User
from core.repositories.users import RefreshTokenRepository, UserRepository
from core.security import generate_password, hash_password, password_problem
from core.types import utcnow

DEFAULT_FULL_NAME = "Administrator"


class AdminError(Exception):
    """The admin cannot be created or changed as asked; the message says why."""


@dataclass
class AdminResult:
    email: str
    created: bool
    password_changed: bool
    # Set only when this call generated the password: it is shown once and never stored.
    generated_password: str | None = None


def normalize_email(email: str) -> str:
    try:
        return validate_email(email.strip(), check_deliverability=False).normalized.lower()
    except EmailNotValidError as exc:
        raise AdminError(f"invalid email {email!r}: {exc}") from exc


def check_password(password: str) -> None:
    problem = password_problem(password)
    if problem:
        raise AdminError(f"refusing a weak admin password: {problem}")


async def ensure_admin(
    database_url: str,
    email: str,
    password: str | None = None,
    *,
    reset_password: bool = False,
    full_name: str = DEFAULT_FULL_NAME,
) -> AdminResult:
    """Create the superuser, or leave an existing one alone unless `reset_password`."""
    email = normalize_email(email)
    if password is not None:
        check_password(password)
    engine = create_engine(database_url)
    try:
        async with create_sessionmaker(engine)() as session:
            users = UserRepository(session)
            user = await users.get_by_email(email)
            if user is None:
                result, user = _new_admin(email, password, full_name)
                await users.add(user)
                action = "admin.created"
            elif not user.is_superuser:
                raise AdminError(
                    f"{email} already exists as a regular (business) user; "
                    "admins have no business membership, so use another email"
                )
            elif not reset_password:
                return AdminResult(email=email, created=False, password_changed=False)
            else:
                result = await _reset(session, user, password)
                action = "admin.password_reset"
            record_event(session, action, subject_type="user", subject_id=user.id)
            await session.commit()
            return result
    finally:
        await engine.dispose()


def _choose_password(password: str | None) -> tuple[str, str | None]:
    """The password to set, and the same again when it was generated (to print once)."""
    if password is not None:
        return password, None
    generated = generate_password()
    return generated, generated


def _new_admin(email: str, password: str | None, full_name: str) -> tuple[AdminResult, User]:
    chosen, generated = _choose_password(password)
    user = User(
        email=email,
        hashed_password=hash_password(chosen),
        full_name=full_name,
        is_superuser=True,
        is_active=True,
    )
    return AdminResult(
        email, created=True, password_changed=True, generated_password=generated
    ), user


async def _reset(session: AsyncSession, user: User, password: str | None) -> AdminResult:
    chosen, generated = _choose_password(password)
    user.hashed_password = hash_password(chosen)
    # Whoever held the old password may hold a session too: end them all.
    await RefreshTokenRepository(session).revoke_all_for_user(user.id, utcnow())
    return AdminResult(
        user.email, created=False, password_changed=True, generated_password=generated
    )
