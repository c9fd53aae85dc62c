from __future__ import annotations

from fastapi import APIRouter

from api.auth.schemas import UserRead
from api.auth.service import user_read
from api.deps import CurrentUser, PasswordsDep, SessionDep
from api.errors import AUTHENTICATED_ERRORS, error_responses
from api.users import service
from api.users.schemas import UserUpdate

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
    return user_read(await service.update_me(session, passwords, user, data))
