"""The page an invitation email links to: who invites you where, and a form to accept
(a name and password for a new account, or the password of an existing one); accepting
signs the new member in. A link used, withdrawn, expired or never issued is an error page."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from api.deps import PasswordsDep, SessionDep, SettingsDep
from api.errors import AppError
from api.invitations import accept
from api.web import session as web_session
from api.web.deps import WebError, read_form
from api.web.render import redirect
from api.web.signin import signed_out_form, signed_out_form_ok
from core.security import PasswordHashingBusy, password_problem

router = APIRouter(prefix="/admin/invitations", include_in_schema=False)

# Problems the invitee can fix on the form (a wrong password, a limit to wait out, a busy
# server); any other refusal is the link's end.
FIXABLE = (401, 422, 429, 503)


async def _found(session: SessionDep, token: str) -> accept.Found:
    try:
        return await accept.look_up(session, token)
    except AppError as exc:
        raise WebError(exc.status_code, exc.detail) from None


def _page(request: Request, settings: SettingsDep, found: accept.Found, **data: object) -> Response:
    return signed_out_form(
        request,
        settings,
        "invitation.html",
        business=found.business.name,
        email=found.invitation.email,
        role=found.invitation.role,
        existing=found.account is not None,
        **data,
    )


@router.get("/{token}", response_class=HTMLResponse)
async def invitation_page(
    token: str, request: Request, session: SessionDep, settings: SettingsDep
) -> Response:
    return _page(request, settings, await _found(session, token))


def _form_problem(found: accept.Found, full_name: str, password: str, confirm: str) -> str | None:
    if found.account is not None:
        return None if password else "Enter your account's password."
    if not full_name:
        return "Enter your name."
    if password != confirm:
        return "The two passwords differ."
    problem = password_problem(password)
    return problem[:1].upper() + problem[1:] if problem else None


@router.post("/{token}")
async def accept_invitation(
    token: str,
    request: Request,
    session: SessionDep,
    passwords: PasswordsDep,
    settings: SettingsDep,
) -> Response:
    found = await _found(session, token)
    form = await read_form(request)
    full_name, password, confirm = (
        str(form.get(name) or "")[:200] for name in ("full_name", "password", "confirm")
    )
    if not signed_out_form_ok(request, form):
        return _page(
            request, settings, found, status_code=403, error="The form expired; try again."
        )
    problem = _form_problem(found, full_name.strip(), password, confirm)
    if problem:
        return _page(request, settings, found, status_code=422, error=problem, full_name=full_name)
    ip = request.client.host if request.client else None
    try:
        account = accept.NewAccount(full_name.strip() or None, password, ip)
        user = await accept.accept_for_browser(
            session, request.app.state.throttle, passwords, token, account
        )
    except (AppError, PasswordHashingBusy) as exc:
        if exc.status_code not in FIXABLE:
            raise WebError(exc.status_code, exc.detail) from None
        return _page(
            request,
            settings,
            found,
            status_code=exc.status_code,
            error=exc.detail,
            full_name=full_name,
        )
    session_token, _ = web_session.issue(settings, user.id, user.hashed_password)
    response = redirect("/admin")
    web_session.set_session(response, settings, session_token)
    response.delete_cookie(web_session.LOGIN_CSRF_COOKIE, path=web_session.PATH)
    return response
