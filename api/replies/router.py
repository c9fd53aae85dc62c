"""What clients wrote back by SMS and WhatsApp: the business's inbox."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from api.deps import CurrentActor, PageDep, SessionDep, id_or_404
from api.errors import ACTOR_ERRORS, error_responses
from api.replies import service
from api.replies.schemas import MarkedRead, ReplyList, ReplyRead
from core.reply_models import Reply

router = APIRouter(prefix="/replies", tags=["replies"], responses=error_responses(*ACTOR_ERRORS))


async def get_reply(reply_id: str, actor: CurrentActor, session: SessionDep) -> Reply:
    return await service.get_reply(session, actor.business_id, id_or_404(reply_id, "Reply"))


ReplyDep = Annotated[Reply, Depends(get_reply)]


@router.get("", response_model=ReplyList)
async def list_replies(
    actor: CurrentActor,
    session: SessionDep,
    page: PageDep,
    unread: Annotated[bool, Query(description="Only the replies nobody has read.")] = False,
    client_id: Annotated[
        uuid.UUID | None, Query(description="Another business's id matches nothing.")
    ] = None,
    reminder_id: Annotated[
        uuid.UUID | None, Query(description="Another business's id matches nothing.")
    ] = None,
) -> ReplyList:
    """The business's replies from clients, newest first, with the unread count."""
    filters = service.ReplyFilters(unread=unread, client_id=client_id, reminder_id=reminder_id)
    found = await service.list_replies(
        session, actor.business_id, filters, limit=page.limit, offset=page.offset
    )
    return ReplyList(
        items=[ReplyRead.model_validate(reply) for reply in found.items],
        total=found.total,
        total_exact=found.total.exact,
        unread_count=found.unread_count,
    )


@router.post("/read-all", response_model=MarkedRead)
async def mark_all_replies_read(actor: CurrentActor, session: SessionDep) -> MarkedRead:
    """Mark every unread reply of the business read."""
    return MarkedRead(marked=await service.mark_all_read(session, actor.business_id))


@router.post("/{reply_id}/read", response_model=ReplyRead)
async def mark_reply_read(reply: ReplyDep, session: SessionDep) -> ReplyRead:
    """Mark one reply read (a reply already read keeps its first time)."""
    return ReplyRead.model_validate(await service.mark_read(session, reply))
