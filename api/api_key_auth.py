"""Calling the API with a key of a business instead of a person's login.

A key is sent as `X-API-Key: <key>` or as `Authorization: Bearer <key>` (keys start with
`rk_live_`, access tokens never do). It is looked up by its SHA-256, refused (401, one
answer for all) when unknown, revoked, expired, or when the account that made it is no
longer active or no longer staff of the key's business (a superuser's stays), and then counted against API_RATE_LIMIT per key.
Its last use is written at most once a minute, apart from the request's transaction.
"""

from __future__ import annotations

import hmac
from datetime import timedelta

from fastapi import Request
from fastapi.security import APIKeyHeader
from sqlalchemy.ext.asyncio import AsyncSession

from api.errors import Forbidden, Unauthorized
from api.throttle import Throttle, TooManyRequests
from core.api_key_models import ApiKey
from core.models import User
from core.repositories.api_keys import ApiKeyRepository
from core.security import API_KEY_LENGTH, hash_api_key, looks_like_api_key
from core.settings import Settings
from core.types import utcnow

api_key_header = APIKeyHeader(
    name="X-API-Key",
    auto_error=False,
    description="A key of the business (`rk_live_...`), made by an owner at /api/v1/api-keys.",
)

LAST_USED_EVERY = timedelta(minutes=1)
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
REFUSED = "Invalid, expired or revoked API key"


def presented_key(token: str | None, header: str | None) -> str | None:
    """The API key a request carries, if it carries one."""
    if header is not None:
        if token is not None and token != header:
            raise Unauthorized("Send one credential: a bearer token or X-API-Key, not both")
        return header
    if token is not None and looks_like_api_key(token):
        return token
    return None


def _usable(key: ApiKey) -> bool:
    maker = key.created_by
    return (
        key.revoked_at is None
        and (key.expires_at is None or key.expires_at > utcnow())
        and maker is not None
        and maker.is_active
        and (maker.is_superuser or _member_of(maker, key))
    )


def _member_of(maker: User, key: ApiKey) -> bool:
    return maker.membership is not None and maker.membership.business_id == key.business_id


async def authenticate_key(
    request: Request, session: AsyncSession, settings: Settings, presented: str
) -> ApiKey:
    """The usable key that `presented` is, counted against the rate limit, else 401."""
    if len(presented) != API_KEY_LENGTH or not looks_like_api_key(presented):
        raise Unauthorized(REFUSED)
    digest = hash_api_key(presented)
    key = await ApiKeyRepository(session).by_hash(digest)
    # The lookup is by hash already; the comparison is constant-time all the same.
    if key is None or not hmac.compare_digest(key.key_hash, digest) or not _usable(key):
        raise Unauthorized(REFUSED)
    throttle: Throttle = request.app.state.throttle
    wait = await throttle.api_call(f"key:{key.id}")
    if wait is not None:
        raise TooManyRequests(
            f"Rate limit of {settings.API_RATE_LIMIT} requests per API key reached "
            f"(API_RATE_LIMIT); try again in {wait} seconds",
            retry_after=wait,
        )
    await _note_use(request, key)
    return key


async def _note_use(request: Request, key: ApiKey) -> None:
    # In a session of its own, so a GET (which never commits) records it too, and at most
    # once a minute: a conditional update, so parallel requests write it once.
    now = utcnow()
    if key.last_used_at is not None and now - key.last_used_at < LAST_USED_EVERY:
        return
    async with request.app.state.sessionmaker() as session:
        await ApiKeyRepository(session).touch(key.id, now, now - LAST_USED_EVERY)
        await session.commit()


def check_scope(key: ApiKey, method: str) -> None:
    """GET and HEAD need the `read` scope, every other method `write`."""
    needed = "read" if method.upper() in READ_METHODS else "write"
    if needed not in key.scopes:
        raise Forbidden(
            f"This API key lacks the {needed!r} scope needed for {method.upper()} requests"
        )
