"""The dashboard's Inbox: what clients wrote back by SMS and WhatsApp, newest first, with
"Mark read" forms. Through the API's own `replies` service, for the business in scope (a
superuser chooses one first), so the page and `GET /api/v1/replies` never disagree."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from api.deps import SessionDep, as_uuid
from api.errors import NotFound
from api.replies import service
from api.web.deps import CheckedForm, WebContextDep, WebError, safe_next
from api.web.render import redirect, render
from core.repositories.replies import ReplyFilters

router = APIRouter(prefix="/admin", include_in_schema=False)

PAGE_SIZE = 50
INBOX = "/admin/replies"
NOT_YOURS = "This reply does not exist, or is not yours to see."


@router.get("/replies", response_class=HTMLResponse)
async def inbox(
    request: Request,
    ctx: WebContextDep,
    session: SessionDep,
    unread: Annotated[str, Query(max_length=5)] = "",
    offset: Annotated[str, Query(max_length=12)] = "0",
) -> Response:
    business_id = ctx.actor.business_id  # a superuser chooses a business first
    start = int(offset) if offset.isdigit() and int(offset) <= 1_000_000 else 0
    only_unread = unread == "1"
    found = await service.list_replies(
        session, business_id, ReplyFilters(unread=only_unread), limit=PAGE_SIZE, offset=start
    )
    base = f"{INBOX}?unread=1&" if only_unread else f"{INBOX}?"
    pages = {
        "previous": f"{base}offset={max(start - PAGE_SIZE, 0)}" if start > 0 else None,
        "next": f"{base}offset={start + PAGE_SIZE}" if start + PAGE_SIZE < found.total else None,
    }
    return render(
        request,
        "replies.html",
        ctx,
        rows=found.items,
        total=found.total,
        unread_count=found.unread_count,
        only_unread=only_unread,
        pages=pages,
    )


@router.post("/replies/read-all")
async def mark_all_read(ctx: WebContextDep, form: CheckedForm, session: SessionDep) -> Response:
    await service.mark_all_read(session, ctx.actor.business_id)
    return redirect(safe_next(form.get("next"), INBOX))


@router.post("/replies/{reply_id}/read")
async def mark_read(
    reply_id: str, ctx: WebContextDep, form: CheckedForm, session: SessionDep
) -> Response:
    parsed = as_uuid(reply_id)
    if parsed is None:
        raise WebError(404, NOT_YOURS)
    try:
        reply = await service.get_reply(session, ctx.actor.business_id, parsed)
    except NotFound:
        raise WebError(404, NOT_YOURS) from None
    await service.mark_read(session, reply)
    return redirect(safe_next(form.get("next"), INBOX))
