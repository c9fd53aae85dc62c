"""Staff download, from the dashboard, a document a client sent with "done": the same
answer as the API's `GET /reminders/{id}/clients/{client_id}/documents/{document_id}`
(an attachment, never shown in the browser), for a signed-in member of the business."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from api.deps import SessionDep, StorageDep, as_uuid
from api.errors import NotFound
from api.reminder_clients import documents
from api.web import service
from api.web.deps import WebContextDep, WebError

router = APIRouter(prefix="/admin", include_in_schema=False)


@router.get("/reminders/{reminder_id}/clients/{client_id}/documents/{document_id}")
async def download_document(
    reminder_id: str,
    client_id: str,
    document_id: str,
    ctx: WebContextDep,
    session: SessionDep,
    storage: StorageDep,
) -> Response:
    ids = [as_uuid(value) for value in (reminder_id, client_id, document_id)]
    reminder = None
    if ids[0] is not None:
        reminder = await service.reminder_in_scope(session, ctx.business_id, ids[0])
    if reminder is None or ids[1] is None or ids[2] is None:
        raise WebError(404, "This document does not exist, or is not yours to see.")
    try:
        return await documents.download(session, storage, reminder, ids[1], ids[2])
    except NotFound:
        raise WebError(404, "This document does not exist, or is not yours to see.") from None
