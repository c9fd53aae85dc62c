"""Staff downloading a document a client sent with "done": only the business's own, only
through the reminder and client it belongs to, always as an attachment (never shown in the
browser, whatever the file holds)."""

from __future__ import annotations

import logging
import uuid
from urllib.parse import quote

from fastapi import Response
from sqlalchemy.ext.asyncio import AsyncSession

from api.errors import NotFound
from core.models import Reminder
from core.repositories.progress import ProgressRepository
from core.storage import Storage

log = logging.getLogger(__name__)

NOT_FOUND = "Document not found"


def content_disposition(filename: str) -> str:
    """`attachment` with the name in RFC 5987 form, and a plain ASCII one for old clients."""
    fallback = "".join(
        ch if ch.isascii() and ch.isprintable() and ch not in '"\\;' else "_" for ch in filename
    )
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


async def download(
    session: AsyncSession,
    storage: Storage,
    reminder: Reminder,
    client_id: uuid.UUID,
    document_id: uuid.UUID,
) -> Response:
    """The document's bytes, or 404 (another business's, another client's, or gone)."""
    document = await ProgressRepository(session).document(
        reminder.business_id, reminder.id, document_id
    )
    if document is None or document.client_id != client_id:
        raise NotFound(NOT_FOUND)
    try:
        data = await storage.read(document.storage_key)
    except FileNotFoundError:
        log.error("document %s has no file under %s", document.id, document.storage_key)
        raise NotFound(NOT_FOUND) from None
    return Response(
        data,
        media_type=document.content_type,
        headers={
            "Content-Disposition": content_disposition(document.filename),
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "default-src 'none'; sandbox",
            "Cache-Control": "private, no-store",
        },
    )
