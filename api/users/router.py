from __future__ import annotations

from fastapi import APIRouter

from api.auth.schemas import UserRead
from api.auth.service import user_read
from api.deps import CurrentUser, PasswordsDep, SessionDep
from api.errors import AUTHENTICATED_ERRORS, BadRequest, error_responses
from api.users.schemas import UserUpdate
from core.events import record_event
from core.repositories.users import RefreshTokenRepository
from core.types import utcnow

router = APIRouter(
    prefix="/users", tags=["users"], responses=error_responses(*AUTHENTICATED_ERRORS)
)


@router.get("/me", response_model=UserRead)
async def read_me(user: CurrentUser) -> UserRead:
    """The caller's account, role and business."""
    return user_read(user)


@router.patch("/me", response_model=UserRead)
async def update_me(
    data: UserUpdate, user: CurrentUser, session: SessionDep, passwords: PasswordsDep
) -> UserRead:
    """Change the caller's name or password (the current password is required)."""
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
    return user_read(user)
