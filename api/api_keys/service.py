"""Making, listing and revoking a business's API keys (owners, signed in: never by a key)."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from api.api_keys.schemas import ApiKeyCreate, ApiKeyCreated, ApiKeyRead
from api.deps import Actor
from api.errors import Conflict, NotFound
from core.api_key_models import ApiKey
from core.repositories.api_keys import ApiKeyRepository
from core.repositories.base import Total
from core.security import api_key_prefix, hash_api_key, new_api_key
from core.types import utcnow

# Keys not revoked nor expired, per business: plenty for a firm's systems, and bounded.
MAX_LIVE_KEYS = 50


async def create_key(session: AsyncSession, actor: Actor, data: ApiKeyCreate) -> ApiKeyCreated:
    keys = ApiKeyRepository(session)
    if await keys.count_live(actor.business_id, utcnow()) >= MAX_LIVE_KEYS:
        raise Conflict(f"A business has at most {MAX_LIVE_KEYS} live API keys; revoke one first")
    secret = new_api_key()
    key = await keys.add(
        ApiKey(
            business_id=actor.business_id,
            created_by_user_id=actor.user.id,
            name=data.name,
            prefix=api_key_prefix(secret),
            key_hash=hash_api_key(secret),
            scopes=[scope.value for scope in data.scopes],
            expires_at=data.expires_at,
        )
    )
    actor.record(
        session,
        "api_key.created",
        "api_key",
        key.id,
        name=key.name,
        prefix=key.prefix,
        scopes=key.scopes,
        expires_at=key.expires_at.isoformat() if key.expires_at else None,
    )
    await session.commit()
    return ApiKeyCreated.model_validate(
        {**ApiKeyRead.model_validate(key).model_dump(), "key": secret}
    )


async def list_keys(
    session: AsyncSession, actor: Actor, limit: int, offset: int
) -> tuple[list[ApiKey], Total]:
    return await ApiKeyRepository(session).list(actor.business_id, limit, offset)


async def revoke_key(session: AsyncSession, actor: Actor, key_id: uuid.UUID) -> None:
    """Revoked at once: the next request with it is refused. Revoking again changes nothing."""
    key = await ApiKeyRepository(session).get(actor.business_id, key_id)
    if key is None:
        raise NotFound("API key not found")
    if key.revoked_at is not None:
        return
    key.revoked_at = utcnow()
    actor.record(session, "api_key.revoked", "api_key", key.id, name=key.name, prefix=key.prefix)
    await session.commit()
