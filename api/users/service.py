"""The caller's own account: name and password."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from api.errors import BadRequest
from api.users.schemas import UserUpdate
from core.events import record_event
from core.models import User
from core.repositories.users import RefreshTokenRepository
from core.security import PasswordHasher
from core.types import utcnow


async def update_me(
    session: AsyncSession, passwords: PasswordHasher, user: User, data: UserUpdate
) -> User:
    if data.password is not None:
        if not await passwords.verify(data.current_password or "", user.hashed_password):
            raise BadRequest("current_password is wrong")
        user.hashed_password = await passwords.hash(data.password)
        # A new password ends every other session.
        await RefreshTokenRepository(session).revoke_all_for_user(user.id, utcnow())
        record_event(
            session,
            "user.password_changed",
            business_id=user.membership.business_id if user.membership else None,
            actor_user_id=user.id,
            subject_type="user",
            subject_id=user.id,
        )
    if data.full_name is not None:
        user.full_name = data.full_name
    await session.commit()
    return user
