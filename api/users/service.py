"""The caller's own account: name and password."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from api.auth.service import set_password
from api.errors import BadRequest
from api.users.schemas import UserUpdate
from core.models import User
from core.security import PasswordHasher


async def update_me(
    session: AsyncSession, passwords: PasswordHasher, user: User, data: UserUpdate
) -> User:
    if data.password is not None:
        if not await passwords.verify(data.current_password or "", user.hashed_password):
            raise BadRequest("current_password is wrong")
        await set_password(session, passwords, user, data.password, "user.password_changed")
    if data.full_name is not None:
        user.full_name = data.full_name
    await session.commit()
    return user
