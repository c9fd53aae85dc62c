from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Depends, Request, Response, status
from fastapi.security import OAuth2PasswordRequestForm

from api.auth import service
from api.auth.reset_links import request_reset
from api.auth.schemas import (
    BusinessRead,
    ForgotPasswordAccepted,
    ForgotPasswordRequest,
    PasswordResetRequest,
    RefreshRequest,
    RegisterRequest,
    RegisterResponse,
    TokenPair,
)
from api.deps import PasswordsDep, SessionDep, SettingsDep
from api.errors import error_responses
from api.throttle import Throttle, TooManyRequests

router = APIRouter(prefix="/auth", tags=["auth"], responses=error_responses(400, 422, 503))


def _ip(request: Request) -> str | None:
    return request.client.host if request.client else None


async def _count_registration(request: Request, settings: SettingsDep) -> None:
    """Every registration attempt from an address counts (a dependency runs before the body
    is validated, so refused ones too): past REGISTRATIONS_PER_IP, 429 and nothing made."""
    throttle: Throttle = request.app.state.throttle
    wait = await throttle.registration(_ip(request))
    if wait is not None:
        raise TooManyRequests(
            f"Too many registrations from your network address (REGISTRATIONS_PER_IP is "
            f"{settings.REGISTRATIONS_PER_IP}); try again in {wait} seconds",
            wait,
        )


@router.post(
    "/register",
    response_model=RegisterResponse,
    status_code=status.HTTP_201_CREATED,
    responses=error_responses(409, 429),
    dependencies=[Depends(_count_registration)],
)
async def register(
    data: RegisterRequest,
    session: SessionDep,
    passwords: PasswordsDep,
    settings: SettingsDep,
    request: Request,
) -> RegisterResponse:
    """Create an account and its business; the caller becomes the business owner."""
    user, business, tokens = await service.register(
        session, passwords, data, settings, _ip(request)
    )
    return RegisterResponse(
        **tokens.model_dump(),
        user=service.user_read(user),
        business=BusinessRead.model_validate(business),
    )


@router.post("/token", response_model=TokenPair, responses=error_responses(401, 429))
async def token(
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    session: SessionDep,
    passwords: PasswordsDep,
    settings: SettingsDep,
    request: Request,
) -> TokenPair:
    """OAuth2 password login: `username` is the email; 429 after too many failures."""
    throttle = request.app.state.throttle
    return await service.login(
        session, throttle, passwords, form.username, form.password, settings, _ip(request)
    )


@router.post("/refresh", response_model=TokenPair, responses=error_responses(401))
async def refresh(data: RefreshRequest, session: SessionDep, settings: SettingsDep) -> TokenPair:
    """Trade a refresh token for a new pair; the old refresh token stops working."""
    return await service.refresh(session, data.refresh_token, settings)


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT)
async def logout(data: RefreshRequest, session: SessionDep) -> Response:
    """Revoke a refresh token."""
    await service.logout(session, data.refresh_token)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/password-reset", status_code=status.HTTP_204_NO_CONTENT)
async def password_reset(
    data: PasswordResetRequest,
    session: SessionDep,
    passwords: PasswordsDep,
    settings: SettingsDep,
    request: Request,
) -> Response:
    """Set a new password with a one-time reset token; 400 if it is used, expired or forged."""
    await service.reset_password(
        session, passwords, data.token, data.password, settings, _ip(request)
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/forgot-password",
    response_model=ForgotPasswordAccepted,
    status_code=status.HTTP_202_ACCEPTED,
    responses=error_responses(429),
)
async def request_password_reset(
    data: ForgotPasswordRequest,
    settings: SettingsDep,
    request: Request,
    background: BackgroundTasks,
) -> ForgotPasswordAccepted:
    """Email a one-time password reset link to the account with this email, if any."""
    await request_reset(request, settings, data.email, background)
    return ForgotPasswordAccepted()
