"""The web dashboard's sign-in: a signed session cookie and CSRF tokens for its forms.

The session is an HS256 JWT of type `web` in an HttpOnly, SameSite=Lax cookie (Secure
whenever the app is https-only, as in production), so page JavaScript can never read it
and other sites' forms never carry it on a POST. Each session has a random id; a form's
CSRF token is an HMAC of that id under the secret key, so only a page rendered for this
session can post for it. Before sign-in the login form is protected the same way by a
random value held in a cookie of its own (double submit), which stops another site from
signing a victim in to its own account. A superuser's chosen business travels in the
session too: switching re-issues the cookie. The session also carries a fingerprint of the
user's password hash, so changing the password ends every dashboard session.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from fastapi import Response
from jose import JWTError, jwt

from core import security
from core.security import JWT_ALGORITHM
from core.settings import Settings
from core.types import utcnow

SESSION_COOKIE = "reminders_session"
LOGIN_CSRF_COOKIE = "reminders_login_csrf"
TOKEN_TYPE = "web"
PATH = "/admin"


@dataclass(frozen=True)
class WebSession:
    user_id: uuid.UUID
    sid: str
    business_id: uuid.UUID | None  # a superuser's chosen business; None: every business
    expires_at: datetime
    password: str  # fingerprint of the password hash it was signed in with


def password_fingerprint(hashed_password: str) -> str:
    return security.password_fingerprint(hashed_password, "web-session")


def issue(
    settings: Settings,
    user_id: uuid.UUID,
    hashed_password: str,
    business_id: uuid.UUID | None = None,
    sid: str | None = None,
    now: datetime | None = None,
) -> tuple[str, WebSession]:
    issued = now or utcnow()
    session = WebSession(
        user_id=user_id,
        sid=sid or secrets.token_urlsafe(16),
        business_id=business_id,
        expires_at=issued + timedelta(hours=settings.WEB_SESSION_HOURS),
        password=password_fingerprint(hashed_password),
    )
    claims: dict[str, Any] = {
        "sub": str(user_id),
        "type": TOKEN_TYPE,
        "sid": session.sid,
        "biz": str(business_id) if business_id else None,
        "pwd": session.password,
        "iat": int(issued.timestamp()),
        "exp": int(session.expires_at.timestamp()),
    }
    return jwt.encode(claims, settings.SECRET_KEY, algorithm=JWT_ALGORITHM), session


def read(settings: Settings, token: str | None) -> WebSession | None:
    """The session in a cookie, or None when it is missing, forged, expired or not `web`."""
    if not token:
        return None
    try:
        claims = jwt.decode(token, settings.SECRET_KEY, algorithms=[JWT_ALGORITHM])
        if claims.get("type") != TOKEN_TYPE or not claims.get("sid"):
            return None
        biz = claims.get("biz")
        return WebSession(
            user_id=uuid.UUID(claims["sub"]),
            sid=str(claims["sid"]),
            business_id=uuid.UUID(biz) if biz else None,
            expires_at=datetime.fromtimestamp(int(claims["exp"]), tz=utcnow().tzinfo),
            password=str(claims["pwd"]),
        )
    except (JWTError, KeyError, ValueError, TypeError):
        return None


def csrf_token(settings: Settings, sid: str) -> str:
    message = f"csrf:{sid}".encode()
    return hmac.new(settings.SECRET_KEY.encode(), message, hashlib.sha256).hexdigest()


def csrf_ok(settings: Settings, sid: str, presented: str) -> bool:
    return hmac.compare_digest(csrf_token(settings, sid), presented)


def _cookie(response: Response, settings: Settings, name: str, value: str, max_age: int) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path=PATH,
        httponly=True,
        secure=settings.https_only,
        samesite="lax",
    )


def set_session(response: Response, settings: Settings, token: str) -> None:
    _cookie(response, settings, SESSION_COOKIE, token, settings.WEB_SESSION_HOURS * 3600)


def clear_session(response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE, path=PATH)


def new_login_csrf() -> str:
    return secrets.token_urlsafe(24)


def set_login_csrf(response: Response, settings: Settings, value: str) -> None:
    _cookie(response, settings, LOGIN_CSRF_COOKIE, value, 3600)


def login_csrf_ok(cookie_value: str | None, presented: str) -> bool:
    return bool(cookie_value) and hmac.compare_digest(str(cookie_value), presented)
