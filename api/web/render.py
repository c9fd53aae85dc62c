"""Rendering the dashboard's pages: Jinja2 templates, filters, and the headers every page
carries (a strict Content-Security-Policy: scripts and styles from this origin only)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates

from api.web.deps import WebContext
from workflows.history import describe_schedule

HERE = Path(__file__).parent
STATIC_DIR = HERE / "static"

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
    ]
)
# nosniff, X-Frame-Options and Referrer-Policy come from api.middleware.SecurityMiddleware.
PAGE_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "Cache-Control": "no-store",  # pages carry clients' names and addresses
}


def when(value: datetime | None, zone: str = "UTC") -> str:
    """A moment as the reader's business sees it: `2026-12-01 09:00 GMT`."""
    if value is None:
        return "—"
    return value.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M %Z")


def period(key: str | None, zone: str = "UTC") -> str:
    """A period's key (its due time, `2027-01-07T09:00:00Z`) as `when` shows a moment."""
    if not key:
        return "—"
    try:
        return when(datetime.fromisoformat(key.replace("Z", "+00:00")), zone)
    except ValueError:
        return key


def iso(value: datetime | None) -> str:
    return value.isoformat() if value is not None else ""


def percent(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f} %"


templates = Jinja2Templates(directory=HERE / "templates")
templates.env.filters.update(when=when, iso=iso, percent=percent, period=period)
templates.env.globals.update(describe_schedule=describe_schedule)


def render(
    request: Request,
    name: str,
    ctx: WebContext | None,
    status_code: int = 200,
    **data: Any,
) -> HTMLResponse:
    response = templates.TemplateResponse(
        request, name, {"ctx": ctx, "path": request.url.path, **data}, status_code=status_code
    )
    response.headers.update(PAGE_HEADERS)
    return response


def redirect(url: str) -> RedirectResponse:
    response = RedirectResponse(url, status_code=303)
    response.headers.update(PAGE_HEADERS)
    return response
