"""Signing in and out of the dashboard, asking for a reset link by email, choosing a new
password with a reset code, and (superusers) switching business: the routes that issue
or clear the session's cookie."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from starlette.datastructures import FormData

from api.auth.reset_links import request_reset
from api.auth.schemas import ForgotPasswordRequest
from api.deps import PasswordsDep, SessionDep, SettingsDep, as_uuid
from api.errors import BadRequest, Unauthorized
from api.throttle import TooManyRequests
from api.web import service
from api.web import session as web_session
from api.web.deps import CheckedForm, WebContextDep, WebError, read_form, safe_next
from api.web.render import redirect, render
from core.security import PasswordHashingBusy, password_problem

router = APIRouter(prefix="/admin", include_in_schema=False)


def _client_ip(request: Request) -> str | None:
    return request.client.host if request.client else None


def signed_out_form(
    request: Request, settings: SettingsDep, template: str, **data: object
) -> Response:
    """A form for someone without a session (signing in, choosing a new password): its CSRF
    value is a double-submit cookie, since there is no session to bind it to."""
    token = web_session.new_login_csrf()
    status_code = int(str(data.pop("status_code", 200)))
    response = render(request, template, None, status_code, csrf=token, **data)
    web_session.set_login_csrf(response, settings, token)
    return response


def signed_out_form_ok(request: Request, form: FormData) -> bool:
    return web_session.login_csrf_ok(
        request.cookies.get(web_session.LOGIN_CSRF_COOKIE), str(form.get("csrf_token") or "")
    )


def _login_page(request: Request, settings: SettingsDep, next_url: str, **data: object) -> Response:
    return signed_out_form(request, settings, "login.html", next=next_url, **data)


@router.get("/login", response_class=HTMLResponse)
async def login_page(
    request: Request,
    settings: SettingsDep,
    next: Annotated[str, Query(max_length=500)] = "",
    reset: Annotated[str, Query(max_length=1)] = "",
) -> Response:
    found = web_session.read(settings, request.cookies.get(web_session.SESSION_COOKIE))
    if found is not None:
        return redirect(safe_next(next))
    notice = "Your password was changed. Sign in with it." if reset == "1" else None
    return _login_page(request, settings, safe_next(next), notice=notice)


@router.post("/login")
async def login_submit(
    request: Request, session: SessionDep, passwords: PasswordsDep, settings: SettingsDep
) -> Response:
    form = await read_form(request)
    next_url = safe_next(form.get("next"))
    email, password = form.get("email"), form.get("password")
    if not signed_out_form_ok(request, form):
        return _login_page(
            request, settings, next_url, status_code=403, error="The form expired; sign in again."
        )
    if not isinstance(email, str) or not isinstance(password, str) or not email or not password:
        return _login_page(
            request, settings, next_url, status_code=422, error="Enter your email and password."
        )
    throttle = request.app.state.throttle
    try:
        user = await service.sign_in(
            session, throttle, passwords, email[:320], password[:1024], _client_ip(request)
        )
    except (Unauthorized, TooManyRequests, PasswordHashingBusy) as exc:
        response = _login_page(
            request,
            settings,
            next_url,
            status_code=exc.status_code,
            error=exc.detail,
            email=email[:320],
        )
        if isinstance(exc, (TooManyRequests, PasswordHashingBusy)):
            response.headers["Retry-After"] = str(exc.retry_after)
        return response
    token, _ = web_session.issue(settings, user.id, user.hashed_password)
    response = redirect(next_url)
    web_session.set_session(response, settings, token)
    response.delete_cookie(web_session.LOGIN_CSRF_COOKIE, path=web_session.PATH)
    return response


def _reset_page(request: Request, settings: SettingsDep, **data: object) -> Response:
    return signed_out_form(request, settings, "reset_password.html", **data)


@router.get("/reset-password", response_class=HTMLResponse)
async def reset_password_page(request: Request, settings: SettingsDep) -> Response:
    """Where a password-reset link leads (`POST /admin/users/{id}/password-reset`). The
    link's code is in its fragment, which the page's script puts into the form; it can
    also be pasted."""
    return _reset_page(request, settings)


@router.post("/reset-password")
async def reset_password_submit(
    request: Request, session: SessionDep, passwords: PasswordsDep, settings: SettingsDep
) -> Response:
    form = await read_form(request)
    token, password, confirm = (
        str(form.get(name) or "") for name in ("token", "password", "confirm")
    )
    kept = {"token": token[:2000]}
    if not signed_out_form_ok(request, form):
        return _reset_page(
            request, settings, status_code=403, error="The form expired; try again.", **kept
        )
    problem = (
        "Enter the reset code."
        if not token
        else "The two passwords differ."
        if password != confirm
        else password_problem(password)
    )
    if problem:
        return _reset_page(
            request, settings, status_code=422, error=problem[:1].upper() + problem[1:], **kept
        )
    try:
        await service.choose_password(
            session, passwords, token[:2000], password, settings, _client_ip(request)
        )
    except (BadRequest, PasswordHashingBusy) as exc:
        return _reset_page(request, settings, status_code=exc.status_code, error=exc.detail)
    response = redirect("/admin/login?reset=1")
    response.delete_cookie(web_session.LOGIN_CSRF_COOKIE, path=web_session.PATH)
    return response


def _forgot_page(request: Request, settings: SettingsDep, **data: object) -> Response:
    return signed_out_form(request, settings, "forgot_password.html", **data)


@router.get("/forgot-password", response_class=HTMLResponse)
async def forgot_password_page(request: Request, settings: SettingsDep) -> Response:
    """Ask for a password reset link by email (linked from the sign-in page)."""
    return _forgot_page(request, settings)


@router.post("/forgot-password")
async def forgot_password_submit(
    request: Request, settings: SettingsDep, background: BackgroundTasks
) -> Response:
    form = await read_form(request)
    email = str(form.get("email") or "")[:320]
    if not signed_out_form_ok(request, form):
        return _forgot_page(
            request, settings, status_code=403, error="The form expired; try again."
        )
    try:
        email = ForgotPasswordRequest(email=email).email
    except ValidationError:
        return _forgot_page(request, settings, status_code=422, error="Enter your email address.")
    try:
        await request_reset(request, settings, email, background)
    except TooManyRequests as exc:
        response = _forgot_page(request, settings, status_code=429, error=exc.detail, email=email)
        response.headers["Retry-After"] = str(exc.retry_after)
        return response
    # The same page whether or not the email has an account.
    return _forgot_page(request, settings, sent=True, email=email)


@router.post("/logout")
async def logout(form: CheckedForm) -> Response:
    response = redirect("/admin/login")
    web_session.clear_session(response)
    return response


@router.post("/scope")
async def switch_business(
    ctx: WebContextDep, form: CheckedForm, session: SessionDep, settings: SettingsDep
) -> Response:
    """Superusers: look at one business, or (empty) at every business."""
    if not ctx.user.is_superuser:
        raise WebError(403, "Only superusers can switch business.")
    chosen = as_uuid(str(form.get("business") or ""))
    if chosen is not None and await service.get_business(session, chosen) is None:
        raise WebError(404, "That business does not exist.")
    token, _ = web_session.issue(
        settings, ctx.user.id, ctx.user.hashed_password, chosen, sid=ctx.session.sid
    )
    response = redirect(safe_next(form.get("next")))
    web_session.set_session(response, settings, token)
    return response
