"""The web dashboard at /admin: server-rendered pages over the API's own services.

Reads go through the same scoping as the API (a business user sees their business; a
superuser every business, or the one they switched to). Every change is a POST form
carrying the session's CSRF token, and goes through the API's services, so it is
signalled, recorded and audited exactly as the REST call would be. Signing in and out is
in `signin.py`; what the pages read and do, in `service.py`.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from temporalio.client import Client

from api.dashboard import service as dashboard
from api.dashboard.router import CacheDep
from api.deps import Actor, SessionDep, SettingsDep, as_uuid
from api.errors import AppError, Conflict, NotFound, ServiceUnavailable, Unprocessable
from api.reminders.view import load_timeline, reminder_view
from api.usage import service as usage
from api.web import chase, service
from api.web.deps import CheckedForm, WebContext, WebContextDep, WebError, safe_next
from api.web.render import redirect, render
from core.enums import ReminderStatus, Role
from core.models import Business, Reminder
from workflows import history

router = APIRouter(prefix="/admin", include_in_schema=False)

PAGE_SIZE = 50
CHART_DAYS = 30
DELIVERIES_SHOWN = 100
TEMPORAL_TIMEOUT = 3.0
ACTIONS = {"trigger": "sent", "pause": "paused", "resume": "resumed"}
Offset = Annotated[str, Query(max_length=12)]
NOT_A_TARGET = "This client is not one of this reminder's, or is not yours to see."


def _offset(value: str) -> int:
    return int(value) if value.isdigit() and int(value) <= 1_000_000 else 0


# -- pages ------------------------------------------------------------------------------


@router.get("", response_class=HTMLResponse)
async def overview(
    request: Request, ctx: WebContextDep, session: SessionDep, cache: CacheDep
) -> Response:
    summary = await dashboard.summary(session, cache, ctx.business)
    series = await dashboard.timeseries(session, cache, ctx.business, CHART_DAYS)
    businesses = await service.business_rows(session) if ctx.business is None else []
    outstanding = await chase.outstanding_reminders(session, ctx.business) if ctx.business else []
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
        outstanding=outstanding,
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
    period: Annotated[str, Query(max_length=32)] = "",
    state: Annotated[str, Query(max_length=20)] = "",
) -> Response:
    reminder = await _reminder(ctx, session, reminder_id)
    business = await service.business_of(session, ctx.business, reminder)
    clients = await _clients(session, reminder, business, period, state)
    detail = await reminder_view(request.app.state.temporal, reminder)
    timeline, timeline_error = await _timeline(request, session, reminder)
    deliveries, total = await service.reminder_deliveries(session, reminder, DELIVERIES_SHOWN)
    return render(
        request,
        "reminder.html",
        ctx,
        reminder=reminder,
        detail=detail,
        zone=business.timezone if business is not None else "UTC",
        clients=clients,
        timeline=list(reversed(timeline)),
        timeline_error=timeline_error,
        deliveries=deliveries,
        deliveries_total=total,
        workflow_url=_workflow_url(settings, reminder),
        done=done,
        problem=problem,
    )


async def _clients(
    session: SessionDep, reminder: Reminder, business: Business | None, period: str, state: str
) -> chase.ClientsSection | None:
    """The Clients section for `period` ("": the current one); a period the reminder never
    had is a 422 page."""
    if business is None:
        return None
    try:
        return await chase.clients_section(session, reminder, business, period, state)
    except AppError as exc:
        raise WebError(exc.status_code, exc.detail) from None


async def _timeline(
    request: Request, session: SessionDep, reminder: Reminder
) -> tuple[list[history.Entry], str | None]:
    """The reminder's runs as Temporal recorded them, or why they cannot be shown."""
    try:
        temporal = await request.app.state.temporal.get(timeout=TEMPORAL_TIMEOUT)
        _, timeline = await load_timeline(temporal, session, reminder.business_id, reminder)
    except Exception as exc:  # Temporal down or slow: the page shows what it has
        return [], exc.detail if isinstance(exc, AppError) else "Temporal is unreachable."
    return timeline, None


def _workflow_url(settings: SettingsDep, reminder: Reminder) -> str:
    """The reminder's workflow in Temporal's Web UI."""
    return (
        f"{settings.TEMPORAL_UI_URL.rstrip('/')}/namespaces/"
        f"{quote(settings.TEMPORAL_NAMESPACE, safe='')}/workflows/"
        f"{quote(reminder.workflow_id, safe='')}"
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
    business = await service.business_of(session, ctx.business, reminder)
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
        await service.act_on_reminder(session, actor, reminder, action, temporal)
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
    business = await service.business_of(session, ctx.business, reminder)
    if business is None:
        raise WebError(404, "This reminder does not exist, or is not yours to see.")
    return Actor(user=ctx.user, business=business, role=Role.owner)


@router.post("/reminders/{reminder_id}/clients/{client_id}/done")
async def mark_client_done(
    request: Request,
    reminder_id: str,
    client_id: str,
    ctx: WebContextDep,
    form: CheckedForm,
    session: SessionDep,
) -> Response:
    reminder = await _reminder(ctx, session, reminder_id)
    back = safe_next(form.get("next"), f"/admin/reminders/{reminder.id}")
    parsed = as_uuid(client_id)
    if parsed is None:
        raise WebError(404, NOT_A_TARGET)
    period, note = form.get("period"), form.get("note")
    note = note.strip() if isinstance(note, str) else None
    if note and len(note) > chase.NOTE_LIMIT:
        raise WebError(422, f"A note is at most {chase.NOTE_LIMIT} characters.")

    async def temporal() -> Client:
        try:
            client: Client = await request.app.state.temporal.get(timeout=TEMPORAL_TIMEOUT)
        except Exception:  # any failure to connect means the same to the reader
            raise ServiceUnavailable("Temporal is unreachable.") from None
        return client

    try:
        await chase.mark_done(
            session,
            temporal,
            reminder,
            ctx.user,
            parsed,
            period if isinstance(period, str) and period else None,
            note or None,
        )
    except NotFound:
        raise WebError(404, NOT_A_TARGET) from None
    except Unprocessable as exc:
        raise WebError(422, exc.detail) from None
    except Conflict:
        return redirect(_with(back, problem="not-now"))
    except ServiceUnavailable:
        return redirect(_with(back, problem="temporal"))
    return redirect(_with(back, done="marked-done"))


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
