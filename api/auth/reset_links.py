"""Password reset links: issued by a superuser for a locked-out user, or emailed to the
user who asks (`POST /auth/forgot-password`). Either way the link leads to the
dashboard's reset page and its token to `POST /auth/password-reset`."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlencode

from fastapi import BackgroundTasks, Request
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.account_mail import link, send_account_email
from api.throttle import Throttle, TooManyRequests
from core.events import record_event
from core.models import User
from core.repositories.users import UserRepository
from core.security import create_password_reset_token
from core.settings import Settings
from core.types import utcnow

log = logging.getLogger(__name__)

SUBJECT = "Choose a new password"


@dataclass(frozen=True)
class ResetLink:
    url: str
    token: str
    expires_at: datetime


def issue_reset_link(user: User, settings: Settings) -> ResetLink:
    """A one-time reset link: signed, expiring, and tied to the current password hash,
    so it stops working once the password changes (its own use included)."""
    expires_at = (utcnow() + timedelta(hours=settings.PASSWORD_RESET_HOURS)).replace(microsecond=0)
    token = create_password_reset_token(
        user.id, user.hashed_password, settings.SECRET_KEY, expires_at
    )
    # In the fragment: a browser never sends it, so no server or proxy log holds it.
    url = link(settings, f"/admin/reset-password#{urlencode({'token': token})}")
    return ResetLink(url=url, token=token, expires_at=expires_at)


def _email_body(user: User, reset: ResetLink, settings: Settings) -> str:
    return (
        f"Hello {user.full_name},\n\n"
        "Someone (we hope you) asked to choose a new password for your account. Follow this "
        f"link to do it; it works once, for {settings.PASSWORD_RESET_HOURS} hours:\n\n"
        f"{reset.url}\n\n"
        "If you did not ask, ignore this email: your password stays as it is.\n"
    )


async def email_reset_link(
    sessionmaker: async_sessionmaker[AsyncSession], settings: Settings, email: str, ip: str | None
) -> None:
    """Email a reset link to the active account with this email, if there is one. Run
    after the answer (a background task), so the answer is the same either way."""
    try:
        async with sessionmaker() as session:
            user = await UserRepository(session).get_by_email(email)
            if user is None or not user.is_active:
                return
            reset = issue_reset_link(user, settings)
            record_event(
                session,
                "auth.password_reset_requested",
                business_id=user.membership.business_id if user.membership else None,
                subject_type="user",
                subject_id=user.id,
                payload={"email": user.email, "expires_at": reset.expires_at.isoformat()},
                ip_address=ip,
            )
            await session.commit()
        body = _email_body(user, reset, settings)
        await send_account_email(settings, user.email, SUBJECT, body, "password-reset")
    except Exception:  # after the answer: nobody to tell but the log
        log.exception("forgot password: the reset link could not be issued")


async def request_reset(
    request: Request, settings: Settings, email: str, background: BackgroundTasks
) -> None:
    """Count a "forgot password" request (429 past the limits), then look the account up
    and email it after the answer: the answer is the same, and as quick, whether or not
    the email is known. For `POST /auth/forgot-password` and the dashboard's page."""
    ip = request.client.host if request.client else None
    throttle: Throttle = request.app.state.throttle
    wait = await throttle.forgot_password(ip, email)
    if wait is not None:
        raise TooManyRequests(
            f"Too many password reset requests (FORGOT_PASSWORD_PER_IP is "
            f"{settings.FORGOT_PASSWORD_PER_IP}, FORGOT_PASSWORD_PER_EMAIL "
            f"{settings.FORGOT_PASSWORD_PER_EMAIL}); try again in {wait} seconds",
            wait,
        )
    background.add_task(email_reset_link, request.app.state.sessionmaker, settings, email, ip)
