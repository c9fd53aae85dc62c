"""The web dashboard at /admin: server-rendered pages over the API's own services.

Reads go through the same scoping as the API (a business user sees their business; a
superuser every business, or the one they switched to). Every change is a POST form
carrying the session's CSRF token, and goes through the API's services, so it is
signalled, recorded and audited exactly as the REST call would be.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import FormData
from temporalio.client import Client

from api.auth.service import authenticate_throttled, reset_password
from api.dashboard import service as dashboard
from api.dashboard.router import CacheDep
from api.deps import Actor, PasswordsDep, SessionDep, SettingsDep, as_uuid
from api.errors import AppError, BadRequest, Conflict, ServiceUnavailable, Unauthorized
from api.reminders import service as reminders
from api.reminders.view import reminder_view
from api.throttle import TooManyRequests
from api.usage import service as usage
from api.web import service
from api.web import session as web_session
from api.web.deps import CheckedForm, WebContext, WebContextDep, WebError, read_form, safe_next
from api.web.render import redirect, render
from core.enums import ReminderStatus, Role
from core.models import Reminder
from core.repositories.users import BusinessRepository
from core.security import PasswordHashingBusy, password_problem
from workflows import history

router = APIRouter(prefix="/admin", include_in_schema=False)

PAGE_SIZE = 50
CHART_DAYS = 30
DELIVERIES_SHOWN = 100
TEMPORAL_TIMEOUT = 3.0
ACTIONS = {"trigger": "sent", "pause": "paused", "resume": "resumed"}
Offset = Annotated[str, Query(max_length=12)]


def _offset(value: str) -> int:
    return int(value) if value.isdigit() and int(value) <= 1_000_000 else 0


def _client_ip(request: Request) -> str | None:
    return request.client.host if request.client else None


# -- signing in and out -----------------------------------------------------------------


def _signed_out_form(
    request: Request, settings: SettingsDep, template: str, **data: object
) -> Response:
    """A form for someone without a session (signing in, choosing a new password): its CSRF
    value is a double-submit cookie, since there is no session to bind it to."""
    token = web_session.new_login_csrf()
    status_code = int(str(data.pop("status_code", 200)))
    response = render(request, template, None, status_code, csrf=token, **data)
    web_session.set_login_csrf(response, settings, token)
    return response


def _signed_out_form_ok(request: Request, form: FormData) -> bool:
    return web_session.login_csrf_ok(
        request.cookies.get(web_session.LOGIN_CSRF_COOKIE), str(form.get("csrf_token") or "")
    )


def _login_page(request: Request, settings: SettingsDep, next_url: str, **data: object) -> Response:
    return _signed_out_form(request, settings, "login.html", next=next_url, **data)


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
    if not _signed_out_form_ok(request, form):
        return _login_page(
            request, settings, next_url, status_code=403, error="The form expired; sign in again."
        )
    if not isinstance(email, str) or not isinstance(password, str) or not email or not password:
        return _login_page(
            request, settings, next_url, status_code=422, error="Enter your email and password."
        )
    throttle = request.app.state.throttle
    try:
        user = await authenticate_throttled(
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
    await session.commit()
    token, _ = web_session.issue(settings, user.id, user.hashed_password)
    response = redirect(next_url)
    web_session.set_session(response, settings, token)
    response.delete_cookie(web_session.LOGIN_CSRF_COOKIE, path=web_session.PATH)
    return response


def _reset_page(request: Request, settings: SettingsDep, **data: object) -> Response:
    return _signed_out_form(request, settings, "reset_password.html", **data)


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
    if not _signed_out_form_ok(request, form):
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
        await reset_password(
            session, passwords, token[:2000], password, settings, _client_ip(request)
        )
    except (BadRequest, PasswordHashingBusy) as exc:
        return _reset_page(request, settings, status_code=exc.status_code, error=exc.detail)
    await session.commit()
    response = redirect("/admin/login?reset=1")
    response.delete_cookie(web_session.LOGIN_CSRF_COOKIE, path=web_session.PATH)
    return response


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
    if chosen is not None and await BusinessRepository(session).get(chosen) is None:
        raise WebError(404, "That business does not exist.")
    token, _ = web_session.issue(
        settings, ctx.user.id, ctx.user.hashed_password, chosen, sid=ctx.session.sid
    )
    response = redirect(safe_next(form.get("next")))
    web_session.set_session(response, settings, token)
    return response


# -- pages ------------------------------------------------------------------------------


@router.get("", response_class=HTMLResponse)
async def overview(
    request: Request, ctx: WebContextDep, session: SessionDep, cache: CacheDep
) -> Response:
    summary = await dashboard.summary(session, cache, ctx.business)
    series = await dashboard.timeseries(session, cache, ctx.business, CHART_DAYS)
    businesses = await service.business_rows(session) if ctx.business is None else []
    chart = {
        "labels": [day.date.isoformat() for day in series.days],
        "series": {
            status: [day.counts.get(status, 0) for day in series.days]
            for status in ("delivered", "sent", "pending", "failed", "undelivered", "skipped")
        },
    }
    return render(
        request,
        "overview.html",
        ctx,
        summary=summary,
        series=series,
        chart=chart,
        businesses=businesses,
    )


@router.get("/reminders", response_class=HTMLResponse)
async def reminders_list(
    request: Request,
    ctx: WebContextDep,
    session: SessionDep,
    status: Annotated[str, Query(max_length=20)] = "",
    offset: Offset = "0",
    done: Annotated[str, Query(max_length=20)] = "",
    problem: Annotated[str, Query(max_length=20)] = "",
) -> Response:
    wanted = status if status in ReminderStatus._value2member_map_ else None
    start = _offset(offset)
    rows, total = await service.reminders_page(session, ctx.business_id, wanted, PAGE_SIZE, start)
    return render(
        request,
        "reminders.html",
        ctx,
        rows=rows,
        total=total,
        status=wanted or "",
        statuses=[s.value for s in ReminderStatus],
        pages=_pages(request, start, total, len(rows)),
        done=done,
        problem=problem,
    )


async def _reminder(ctx: WebContext, session: SessionDep, reminder_id: str) -> Reminder:
    parsed = as_uuid(reminder_id)
    reminder = await service.reminder_in_scope(session, ctx.business_id, parsed) if parsed else None
    if reminder is None:
        raise WebError(404, "This reminder does not exist, or is not yours to see.")
    return reminder


@router.get("/reminders/{reminder_id}", response_class=HTMLResponse)
async def reminder_page(
    request: Request,
    reminder_id: str,
    ctx: WebContextDep,
    session: SessionDep,
    settings: SettingsDep,
    done: Annotated[str, Query(max_length=20)] = "",
    problem: Annotated[str, Query(max_length=20)] = "",
) -> Response:
    reminder = await _reminder(ctx, session, reminder_id)
    detail = await reminder_view(request.app.state.temporal, reminder)
    timeline: list[history.Entry] = []
    timeline_error: str | None = None
    try:
        temporal = await request.app.state.temporal.get(timeout=TEMPORAL_TIMEOUT)
        _, timeline = await reminders.load_timeline(
            temporal, session, reminder.business_id, reminder
        )
    except Exception as exc:  # Temporal down or slow: the page shows what it has
        timeline_error = exc.detail if isinstance(exc, AppError) else "Temporal is unreachable."
    deliveries, total = await service.reminder_deliveries(session, reminder, DELIVERIES_SHOWN)
    workflow_url = (
        f"{settings.TEMPORAL_UI_URL.rstrip('/')}/namespaces/"
        f"{quote(settings.TEMPORAL_NAMESPACE, safe='')}/workflows/"
        f"{quote(reminder.workflow_id, safe='')}"
    )
    return render(
        request,
        "reminder.html",
        ctx,
        reminder=reminder,
        detail=detail,
        zone=await _zone(ctx, session, reminder),
        timeline=list(reversed(timeline)),
        timeline_error=timeline_error,
        deliveries=deliveries,
        deliveries_total=total,
        workflow_url=workflow_url,
        done=done,
        problem=problem,
    )


@router.get("/reminders/{reminder_id}/deliveries", response_class=HTMLResponse)
async def reminder_deliveries_rows(
    request: Request, reminder_id: str, ctx: WebContextDep, session: SessionDep
) -> Response:
    """The deliveries table's body alone, which the reminder page refreshes in place."""
    reminder = await _reminder(ctx, session, reminder_id)
    deliveries, _ = await service.reminder_deliveries(session, reminder, DELIVERIES_SHOWN)
    zone = await _zone(ctx, session, reminder)
    return render(request, "_delivery_rows.html", ctx, deliveries=deliveries, zone=zone)


async def _zone(ctx: WebContext, session: SessionDep, reminder: Reminder) -> str:
    """The time zone the reminder's business reads its times in."""
    if ctx.business is not None:
        return ctx.business.timezone
    business = await BusinessRepository(session).get(reminder.business_id)
    return business.timezone if business is not None else "UTC"


@router.post("/reminders/{reminder_id}/{action}")
async def reminder_action(
    request: Request,
    reminder_id: str,
    action: str,
    ctx: WebContextDep,
    form: CheckedForm,
    session: SessionDep,
) -> Response:
    if action not in ACTIONS:
        raise WebError(404, "There is no such action.")
    reminder = await _reminder(ctx, session, reminder_id)
    back = safe_next(form.get("next"), f"/admin/reminders/{reminder.id}")
    actor = await _actor_for(ctx, session, reminder)
    try:
        temporal: Client = await request.app.state.temporal.get(timeout=TEMPORAL_TIMEOUT)
    except Exception:  # any failure to connect means the same to the reader
        return redirect(_with(back, problem="temporal"))
    try:
        if action == "trigger":
            await reminders.trigger(session, actor, reminder, temporal)
        else:
            await reminders.change_state(session, actor, reminder, action, temporal)
        await session.commit()
    except Conflict:
        return redirect(_with(back, problem="not-now"))
    except ServiceUnavailable:
        return redirect(_with(back, problem="temporal"))
    return redirect(_with(back, done=ACTIONS[action]))


async def _actor_for(ctx: WebContext, session: SessionDep, reminder: Reminder) -> Actor:
    """The caller acting on this reminder: a superuser in the all-businesses view acts as
    an owner of the reminder's business, as the API's X-Business-Id lets them."""
    if ctx.business is not None:
        return ctx.actor
    business = await BusinessRepository(session).get(reminder.business_id)
    if business is None:
        raise WebError(404, "This reminder does not exist, or is not yours to see.")
    return Actor(user=ctx.user, business=business, role=Role.owner)


@router.get("/clients", response_class=HTMLResponse)
async def clients_list(
    request: Request,
    ctx: WebContextDep,
    session: SessionDep,
    search: Annotated[str, Query(max_length=200)] = "",
    offset: Offset = "0",
) -> Response:
    start = _offset(offset)
    text = search.replace("\x00", "").strip()
    rows, total = await service.clients_page(session, ctx.business_id, text, PAGE_SIZE, start)
    return render(
        request,
        "clients.html",
        ctx,
        rows=rows,
        total=total,
        search=text,
        pages=_pages(request, start, total, len(rows)),
    )


@router.get("/deliveries", response_class=HTMLResponse)
async def failed_deliveries(
    request: Request, ctx: WebContextDep, session: SessionDep, offset: Offset = "0"
) -> Response:
    start = _offset(offset)
    rows, total = await service.failed_deliveries(session, ctx.business_id, PAGE_SIZE, start)
    return render(
        request,
        "failed.html",
        ctx,
        rows=rows,
        total=total,
        pages=_pages(request, start, total, len(rows)),
    )


@router.get("/usage", response_class=HTMLResponse)
async def usage_page(
    request: Request,
    ctx: WebContextDep,
    session: SessionDep,
    month: Annotated[str, Query(max_length=20)] = "",
    offset: Offset = "0",
) -> Response:
    try:
        wanted = usage.parse_month(month or None, ctx.zone)
    except AppError as exc:
        raise WebError(422, exc.detail) from None
    start = _offset(offset)
    if ctx.business is not None:
        rows = [await usage.business_usage(session, ctx.business, wanted)]
        total = 1
    else:
        found, total = await usage.businesses_usage(session, wanted, PAGE_SIZE, start)
        rows = list(found)
    return render(
        request,
        "usage.html",
        ctx,
        month=str(wanted),
        rows=rows,
        total=total,
        pages=_pages(request, start, total, len(rows)),
    )


# -- helpers ----------------------------------------------------------------------------


def _with(url: str, **params: str) -> str:
    """The url with these query parameters set (a page's own filters are kept)."""
    parts = urlsplit(url)
    query = {k: v for k, v in parse_qsl(parts.query) if k not in ("done", "problem")}
    return urlunsplit(parts._replace(query=urlencode({**query, **params})))


def _pages(request: Request, start: int, total: int, shown: int) -> dict[str, str | None]:
    """Links to the previous and next page, keeping the page's other filters. Past a count
    that stopped at its cap (`total.exact` False) a full page may have more after it."""
    more = start + PAGE_SIZE < total or (not getattr(total, "exact", True) and shown == PAGE_SIZE)

    def at(offset: int) -> str:
        params = dict(request.query_params)
        params["offset"] = str(offset)
        return f"{request.url.path}?{urlencode(params)}"

    return {
        "previous": at(max(start - PAGE_SIZE, 0)) if start > 0 else None,
        "next": at(start + PAGE_SIZE) if more else None,
    }


def not_signed_in(request: Request, exc: Exception) -> RedirectResponse:
    """To the login form, which comes back to the page asked for (a form post cannot be
    replayed after signing in, so it comes back to the overview)."""
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    if request.method != "GET":
        target = "/admin"
    return redirect(f"/admin/login?{urlencode({'next': safe_next(target)})}")


def web_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, WebError)
    return render(request, "error.html", None, exc.status_code, message=exc.message)
