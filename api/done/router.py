"""A client's own "done" link (`{{ done_url }}` in a message; core/done_links.py).

GET only shows the page (what is due, a note, files, a "Done" button), because mail
scanners open links; the page's POST marks the client done for the link's period. The
signed token in the path is the only credential. Every answer is a page for a person, the
problems too (an invalid, expired or used link, a refused file, Temporal down): never JSON.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from temporalio.client import Client as TemporalClient

from api.deps import SessionDep, SettingsDep, StorageDep, get_temporal_client
from api.done import pages, service
from api.done.uploads import read_submission, typed_note
from api.errors import AppError
from core.settings import Settings
from core.types import utcnow

router = APIRouter(prefix="/done", tags=["done"])
PAGE_RESPONSE: dict[int | str, dict[str, Any]] = {
    code: {"description": what, "content": {"text/html": {"schema": {"type": "string"}}}}
    for code, what in {
        200: "An HTML page",
        400: "A page: the form could not be read",
        404: "A page: the link is not valid, or names what no longer exists",
        409: "A page: already done for this period (nothing more is kept)",
        410: "A page: the link has expired",
        413: "A page: a file is too large",
        415: "A page: a file of a kind not accepted",
        422: "A page: too many files, an empty file or too long a note",
        503: "A page: try again (nothing was kept)",
    }.items()
}
# Multipart headers, boundaries and the note, beside the files themselves.
FORM_OVERHEAD_BYTES = 64 * 1024
UNREADABLE = "What was sent could not be read. Please try again."


def body_limit(settings: Settings) -> int:
    """The request body the confirming POST may have: every file at its largest."""
    return settings.DONE_UPLOAD_MAX_FILES * settings.DONE_UPLOAD_MAX_FILE_BYTES + (
        FORM_OVERHEAD_BYTES
    )


async def _target(session: SessionDep, settings: Settings, token: str) -> service.DoneTarget:
    return await service.load_target(session, settings.SECRET_KEY, token, utcnow())


@router.get("/{token}", response_class=Response, responses=PAGE_RESPONSE)
async def show_done_page(token: str, session: SessionDep, settings: SettingsDep) -> HTMLResponse:
    """The page a client's done link opens; opening it changes nothing."""
    try:
        target = await _target(session, settings, token)
    except AppError as exc:
        return pages.problem(exc)
    if target.done:
        assert target.progress is not None
        return pages.already_done(target, target.progress.done_at)
    return pages.form(target, settings)


@router.post("/{token}", response_class=Response, responses=PAGE_RESPONSE)
async def confirm_done(
    token: str,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    storage: StorageDep,
) -> HTMLResponse:
    """Mark the link's client done for its period, with an optional note and files
    (multipart: `note`, `files`)."""
    try:
        target = await _target(session, settings, token)
    except AppError as exc:
        return pages.problem(exc)
    if target.done:
        assert target.progress is not None
        return pages.already_done(target, target.progress.done_at, status=409)
    note = ""
    try:
        async with request.form(max_files=100, max_fields=20, max_part_size=64 * 1024) as form:
            note = typed_note(form)
            submission = await read_submission(form, settings)
    except StarletteHTTPException:  # not a form Starlette can parse
        return pages.form(target, settings, UNREADABLE, note, status=400)
    except AppError as exc:
        return pages.form(target, settings, exc.detail, note, status=exc.status_code)

    async def temporal() -> TemporalClient:
        return await get_temporal_client(request)

    try:
        await service.confirm(session, storage, temporal, target, submission)
    except service.AlreadyDone as exc:
        return pages.already_done(target, exc.done_at, status=409)
    except AppError as exc:
        return pages.problem(exc)
    return pages.thanks(target, submission.files)
