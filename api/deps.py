"""FastAPI dependencies as `Annotated` aliases: session, caller, business, Temporal client."""

from __future__ import annotations

import base64
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from fastapi import Depends, Header, Query, Request
from fastapi.security import OAuth2PasswordBearer
from pydantic import AwareDatetime
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.client import Client

from api.api_key_auth import api_key_header, authenticate_key, check_scope, presented_key
from api.errors import Forbidden, NotFound, ServiceUnavailable, Unauthorized, Unprocessable
from api.throttle import Throttle, TooManyRequests
from core.api_key_models import ApiKey
from core.enums import Role
from core.events import record_event
from core.models import Business, User
from core.repositories.base import Keyset
from core.repositories.users import BusinessRepository, UserRepository
from core.security import (
    InvalidToken,
    PasswordHasher,
    decode_access_token,
    looks_like_api_key,
)
from core.settings import Settings
from core.storage import Storage, storage_from_settings
from core.temporal import TemporalConnector
from core.webhook_events import ClientGetter, start_committed

oauth2_scheme = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token", auto_error=False)


def get_app_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


SettingsDep = Annotated[Settings, Depends(get_app_settings)]


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    # A request that changes data commits explicitly, once, before its answer is built,
    # so a failed commit is an error response, never a success for something not stored.
    async with request.app.state.sessionmaker() as session:
        try:
            yield session
        except BaseException:
            await session.rollback()
            raise
        # Webhook events the request committed: their deliveries start now (else the
        # worker's sweep starts them; see core/webhook_events.py).
        await start_committed(session, _webhook_temporal(request), _task_queue(request))


def _task_queue(request: Request) -> str:
    settings: Settings = request.app.state.settings
    return settings.TEMPORAL_TASK_QUEUE


def _webhook_temporal(request: Request) -> ClientGetter:
    async def client() -> Client:
        connector: TemporalConnector = request.app.state.temporal
        return await connector.get(timeout=2.0)

    return client


SessionDep = Annotated[AsyncSession, Depends(get_session)]


def get_storage(settings: SettingsDep) -> Storage:
    return storage_from_settings(settings)


StorageDep = Annotated[Storage, Depends(get_storage)]


def get_passwords(request: Request) -> PasswordHasher:
    passwords: PasswordHasher = request.app.state.passwords
    return passwords


PasswordsDep = Annotated[PasswordHasher, Depends(get_passwords)]


async def get_current_user(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    token: str | None = Depends(oauth2_scheme),
) -> User:
    if request.headers.get("x-api-key") is not None or (token and looks_like_api_key(token)):
        # The caller's own account, the platform's and the keys themselves: people only.
        raise Unauthorized("API keys are not accepted on this route: sign in")
    if not token:
        raise Unauthorized("Not authenticated")
    try:
        user_id = decode_access_token(token, settings.SECRET_KEY)
    except InvalidToken:
        raise Unauthorized("Invalid or expired token") from None
    # Counted once the token is proven ours (never per unverified claim), before any query.
    throttle: Throttle = request.app.state.throttle
    wait = await throttle.api_call(str(user_id))
    if wait is not None:
        raise TooManyRequests(
            f"Rate limit of {settings.API_RATE_LIMIT} requests per user reached "
            f"(API_RATE_LIMIT); try again in {wait} seconds",
            retry_after=wait,
        )
    user = await UserRepository(session).get(user_id)
    if user is None or not user.is_active:
        raise Unauthorized("Invalid or expired token")
    return user


CurrentUser = Annotated[User, Depends(get_current_user)]


@dataclass
class Actor:
    """Who is calling, for which business, with which role there. A request made with an
    API key acts as a member (never an owner) in the name of the owner who made the key:
    `user` is that owner, `api_key` the key, and every event it records names the key."""

    user: User
    business: Business
    role: Role
    api_key: ApiKey | None = None

    @property
    def business_id(self) -> uuid.UUID:
        return self.business.id

    @property
    def is_owner(self) -> bool:
        return self.role == Role.owner

    @property
    def by(self) -> str:
        """Who did it, as the timeline and records say it."""
        if self.api_key is None:
            return self.user.email
        return f"API key {self.api_key.prefix} ({self.user.email})"

    def record(
        self,
        session: AsyncSession,
        action: str,
        subject_type: str,
        subject_id: uuid.UUID | str | None,
        **payload: Any,
    ) -> None:
        """Append an app event done by this caller in this business (same transaction)."""
        if self.api_key is not None:
            payload = {**payload, "key_id": str(self.api_key.id), "key_prefix": self.api_key.prefix}
        record_event(
            session,
            action,
            business_id=self.business_id,
            actor_user_id=self.user.id,
            subject_type=subject_type,
            subject_id=subject_id,
            payload=payload,
        )


async def get_actor(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    token: str | None = Depends(oauth2_scheme),
    x_api_key: str | None = Depends(api_key_header),
    x_business_id: Annotated[
        str | None,
        Header(description="Superusers only: the business to act on."),
    ] = None,
) -> Actor:
    presented = presented_key(token, x_api_key)
    if presented is not None:
        key = await authenticate_key(request, session, settings, presented)
        check_scope(key, request.method)
        assert key.created_by is not None  # a key whose maker is gone is refused above
        return Actor(user=key.created_by, business=key.business, role=Role.member, api_key=key)
    user = await get_current_user(request, session, settings, token)
    return await _user_actor(user, session, x_business_id)


async def _user_actor(user: User, session: AsyncSession, x_business_id: str | None) -> Actor:
    if user.is_superuser and x_business_id:
        try:
            business_id = uuid.UUID(x_business_id)
        except ValueError:
            raise NotFound("Business not found") from None
        business = await BusinessRepository(session).get(business_id)
        if business is None:
            raise NotFound("Business not found")
        return Actor(user=user, business=business, role=Role.owner)
    if user.membership is None:
        raise NotFound("You belong to no business; superusers pass X-Business-Id")
    return Actor(user=user, business=user.membership.business, role=Role(user.membership.role))


CurrentActor = Annotated[Actor, Depends(get_actor)]


async def get_owner(actor: CurrentActor) -> Actor:
    if actor.api_key is not None:
        raise Forbidden("An API key never acts as an owner: an owner must sign in for this")
    if not actor.is_owner:
        raise Forbidden("Only the business owner may do this")
    return actor


OwnerActor = Annotated[Actor, Depends(get_owner)]


async def get_signed_in_owner(
    user: CurrentUser,
    session: SessionDep,
    x_business_id: Annotated[
        str | None,
        Header(description="Superusers only: the business to act on."),
    ] = None,
) -> Actor:
    """An owner signed in as a person: where an API key is refused outright (401), as on
    the routes that manage the keys themselves."""
    actor = await _user_actor(user, session, x_business_id)
    if not actor.is_owner:
        raise Forbidden("Only the business owner may do this")
    return actor


SignedInOwner = Annotated[Actor, Depends(get_signed_in_owner)]


async def get_superuser(user: CurrentUser) -> User:
    if not user.is_superuser:
        raise Forbidden("Superusers only")
    return user


SuperUser = Annotated[User, Depends(get_superuser)]


async def get_temporal_client(request: Request) -> Client:
    connector: TemporalConnector = request.app.state.temporal
    try:
        return await connector.get()
    except Exception as exc:  # any connection failure means the same thing to a caller
        raise ServiceUnavailable(f"Temporal is unreachable: {exc.__class__.__name__}") from None


TemporalClientDep = Annotated[Client, Depends(get_temporal_client)]


def as_uuid(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


def id_or_404(value: str, what: str) -> uuid.UUID:
    """A path id read as text: a malformed one answers like a missing one, and like
    another business's, so callers learn nothing about ids that are not theirs."""
    parsed = as_uuid(value)
    if parsed is None:
        raise NotFound(f"{what} not found")
    return parsed


@dataclass
class Page:
    limit: int
    offset: int


def get_page(
    limit: Annotated[int, Query(ge=1, le=200, description="At most 200.")] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> Page:
    return Page(limit=limit, offset=offset)


PageDep = Annotated[Page, Depends(get_page)]


def get_keyset(
    after: Annotated[
        str | None,
        Query(
            max_length=100,
            description="The `next_cursor` of the previous page; the page starts after it "
            "(`offset` is then ignored).",
        ),
    ] = None,
) -> Keyset | None:
    if after is None:
        return None
    try:
        at, _, row_id = base64.urlsafe_b64decode(after.encode() + b"==").decode().partition("|")
        created_at = datetime.fromisoformat(at)
        if created_at.tzinfo is None:
            raise ValueError("naive time")
        return Keyset(created_at, uuid.UUID(row_id))
    except ValueError:  # bad base64, text, time or id
        raise Unprocessable("after: not a cursor this list gave (use its next_cursor)") from None


KeysetDep = Annotated[Keyset | None, Depends(get_keyset)]


def next_cursor(rows: list[Any], limit: int) -> str | None:
    """The cursor after the last row of a full page (None: this page is the last)."""
    if len(rows) < limit:
        return None
    last = rows[-1]
    raw = f"{last.created_at.isoformat()}|{last.id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@dataclass
class TimeWindow:
    """A list's `since` (inclusive) and `until` (exclusive), ISO 8601 with an offset."""

    since: datetime | None
    until: datetime | None


def get_time_window(
    since: Annotated[
        AwareDatetime | None, Query(description="At or after this time (ISO 8601 with offset).")
    ] = None,
    until: Annotated[
        AwareDatetime | None, Query(description="Before this time (ISO 8601 with offset).")
    ] = None,
) -> TimeWindow:
    if since is not None and until is not None and since > until:
        raise Unprocessable("since: must not be later than until")
    return TimeWindow(since=since, until=until)


TimeWindowDep = Annotated[TimeWindow, Depends(get_time_window)]
