"""Who is looking at the dashboard, for which business, and the checks on its forms."""

from __future__ import annotations

import hmac
import uuid
from dataclasses import dataclass, field
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import FormData

from api.deps import Actor, SessionDep, SettingsDep
from api.web import session as web_session
from core.enums import Role
from core.models import Business, User
from core.repositories.platform import all_businesses
from core.repositories.replies import ReplyRepository
from core.repositories.users import BusinessRepository, UserRepository

MAX_FORM_FIELDS = 20


class LoginRequired(Exception):
    """No valid session: the page answers with a redirect to the login form."""


class WebError(Exception):
    """A page that cannot be shown: rendered as an HTML error page with this status."""

    def __init__(self, status_code: int, message: str) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.message = message


@dataclass
class WebContext:
    user: User
    session: web_session.WebSession
    csrf: str
    business: Business | None  # None: a superuser's view of every business
    role: Role | None
    businesses: list[Business] = field(default_factory=list)  # superusers' switch list
    unread_replies: int = 0  # the navigation's Inbox count, for the business in scope

    @property
    def actor(self) -> Actor:
        """The caller as the API's services know it; only with a business in scope."""
        if self.business is None or self.role is None:
            raise WebError(400, "Choose a business first.")
        return Actor(user=self.user, business=self.business, role=self.role)

    @property
    def business_id(self) -> uuid.UUID | None:
        return self.business.id if self.business is not None else None

    @property
    def zone(self) -> str:
        return self.business.timezone if self.business is not None else "UTC"


async def get_web_context(
    request: Request, session: SessionDep, settings: SettingsDep
) -> WebContext:
    found = web_session.read(settings, request.cookies.get(web_session.SESSION_COOKIE))
    if found is None:
        raise LoginRequired
    user = await UserRepository(session).get(found.user_id)
    if user is None or not user.is_active:
        raise LoginRequired
    if not hmac.compare_digest(
        found.password, web_session.password_fingerprint(user.hashed_password)
    ):
        raise LoginRequired  # the password changed since this sign-in
    csrf = web_session.csrf_token(settings, found.sid)
    if user.is_superuser:
        business = None
        if found.business_id is not None:
            business = await BusinessRepository(session).get(found.business_id)
        return WebContext(
            user=user,
            session=found,
            csrf=csrf,
            business=business,
            role=Role.owner if business is not None else None,
            businesses=await all_businesses(session),
            unread_replies=await _unread(session, business),
        )
    if user.membership is None:
        raise WebError(403, "Your account belongs to no business.")
    business = user.membership.business
    return WebContext(
        user=user,
        session=found,
        csrf=csrf,
        business=business,
        role=Role(user.membership.role),
        unread_replies=await _unread(session, business),
    )


async def _unread(session: AsyncSession, business: Business | None) -> int:
    """One indexed count per page: the navigation shows the Inbox's unread replies."""
    return await ReplyRepository(session).unread_count(business.id) if business else 0


WebContextDep = Annotated[WebContext, Depends(get_web_context)]


def same_origin(request: Request) -> bool:
    """A browser's Origin (or Referer) names this host, or the request names none."""
    origin = request.headers.get("origin") or request.headers.get("referer")
    if origin is None:
        return True  # not a browser's cross-site post; the CSRF token still has to match
    return urlsplit(origin).netloc == request.headers.get("host", "")


async def read_form(request: Request) -> FormData:
    try:
        return await request.form(max_files=0, max_fields=MAX_FORM_FIELDS)
    except Exception:  # a body that is not a form at all
        raise WebError(400, "This form could not be read.") from None


async def checked_form(request: Request, ctx: WebContextDep, settings: SettingsDep) -> FormData:
    """A form posted by a page of this session: same origin and the session's CSRF token."""
    form = await read_form(request)
    token = form.get("csrf_token")
    if (
        not same_origin(request)
        or not isinstance(token, str)
        or not web_session.csrf_ok(settings, ctx.session.sid, token)
    ):
        raise WebError(
            403, "This form has expired or did not come from this site. Reload the page."
        )
    return form


CheckedForm = Annotated[FormData, Depends(checked_form)]


def safe_next(value: object, default: str = "/admin") -> str:
    """A redirect target inside the dashboard only (no other host, no scheme tricks)."""
    if not isinstance(value, str) or not value.startswith("/admin"):
        return default
    if "//" in value or "\\" in value or any(ord(ch) < 0x20 for ch in value):
        return default
    return value
