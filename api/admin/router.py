from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response, status

from api.admin import service
from api.admin.schemas import (
    AdminUserCreate,
    AdminUserUpdate,
    BusinessAdminRead,
    PasswordResetRead,
    ReconcileReportRead,
)
from api.auth.schemas import UserRead
from api.auth.service import user_read
from api.deps import (
    PageDep,
    PasswordsDep,
    SessionDep,
    SettingsDep,
    SuperUser,
    TemporalClientDep,
    id_or_404,
)
from api.errors import AUTHENTICATED_ERRORS, ServiceUnavailable, error_responses
from api.schemas import ListResponse
from api.usage import service as usage
from api.usage.router import MonthQuery
from api.usage.schemas import BusinessUsageRead
from ops.reconcile import TemporalUnavailable, reconcile

router = APIRouter(
    prefix="/admin", tags=["admin"], responses=error_responses(*AUTHENTICATED_ERRORS, 403)
)


@router.post("/reconcile", response_model=ReconcileReportRead)
async def run_reconcile(
    user: SuperUser, client: TemporalClientDep, settings: SettingsDep, request: Request
) -> ReconcileReportRead:
    """Check every active reminder against its workflow and repair drift."""
    try:
        report = await reconcile(
            request.app.state.sessionmaker,
            client,
            settings,
            actor_user_id=user.id,
            source="api",
        )
    except TemporalUnavailable as exc:
        raise ServiceUnavailable(str(exc)) from None
    return ReconcileReportRead.model_validate(report.as_dict())


@router.get("/users", response_model=ListResponse[UserRead])
async def list_users(
    user: SuperUser,
    session: SessionDep,
    page: PageDep,
    email: Annotated[
        str | None, Query(max_length=320, pattern=r"^[^\x00]*$", description="Part of the email.")
    ] = None,
    business_id: uuid.UUID | None = None,
    is_active: bool | None = None,
) -> ListResponse[UserRead]:
    """Every account across businesses, oldest first; filter by email, business, active."""
    filters = service.UserFilters(email=email, business_id=business_id, is_active=is_active)
    items, total = await service.list_users(session, filters, page.limit, page.offset)
    return ListResponse(items=items, total=total)


@router.post(
    "/users",
    response_model=UserRead,
    status_code=status.HTTP_201_CREATED,
    responses=error_responses(404, 409, 422),
)
async def create_user(
    data: AdminUserCreate, admin: SuperUser, session: SessionDep, passwords: PasswordsDep
) -> UserRead:
    """Create an account: staff of an existing business (business_id, role), or a superuser."""
    return await service.create_user(session, passwords, admin, data)


@router.get("/users/{user_id}", response_model=UserRead, responses=error_responses(404))
async def read_user(user_id: str, admin: SuperUser, session: SessionDep) -> UserRead:
    """One account, with its business and role there."""
    return user_read(await service.get_user(session, id_or_404(user_id, "User")))


@router.delete(
    "/users/{user_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=error_responses(404, 409),
)
async def delete_user(user_id: str, admin: SuperUser, session: SessionDep) -> Response:
    """Delete an account: its tokens stop at once; the audit log keeps naming it."""
    target = await service.get_user(session, id_or_404(user_id, "User"))
    await service.delete_user(session, admin, target)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.patch("/users/{user_id}", response_model=UserRead, responses=error_responses(404, 409))
async def update_user(
    user_id: str, data: AdminUserUpdate, admin: SuperUser, session: SessionDep
) -> UserRead:
    """Rename, deactivate (its tokens stop working at once) or reactivate an account."""
    target = await service.get_user(session, id_or_404(user_id, "User"))
    return await service.update_user(session, admin, target, data)


@router.post(
    "/users/{user_id}/password-reset",
    response_model=PasswordResetRead,
    responses=error_responses(404),
)
async def issue_password_reset(
    user_id: str, admin: SuperUser, session: SessionDep, settings: SettingsDep
) -> PasswordResetRead:
    """A one-time password reset link for a locked-out user, valid PASSWORD_RESET_HOURS."""
    target = await service.get_user(session, id_or_404(user_id, "User"))
    return await service.issue_password_reset(session, admin, target, settings)


@router.get("/businesses", response_model=ListResponse[BusinessAdminRead])
async def list_businesses(
    user: SuperUser, session: SessionDep, page: PageDep
) -> ListResponse[BusinessAdminRead]:
    """Every business by name, with its members, clients and active reminders counted."""
    items, total = await service.list_businesses(session, page.limit, page.offset)
    return ListResponse(items=items, total=total)


@router.get("/usage", response_model=ListResponse[BusinessUsageRead])
async def businesses_usage(
    user: SuperUser, session: SessionDep, page: PageDep, month: MonthQuery = None
) -> ListResponse[BusinessUsageRead]:
    """Every business's usage in a month (each in its own time zone; default: this month)."""
    wanted = usage.parse_month(month)
    items, total = await usage.businesses_usage(session, wanted, page.limit, page.offset)
    return ListResponse(items=items, total=total)
