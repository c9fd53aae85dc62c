"""The pages a client sees through their done link: the form, the thank-you, "already
done", and one page per problem. Self-contained (no script, no style sheet, nothing loaded)
and everything shown that came from a business or a client is escaped."""

from __future__ import annotations

from datetime import UTC, datetime
from html import escape
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastapi.responses import HTMLResponse

from api.done.service import DoneTarget
from api.done.uploads import ALLOWED_NAMES, KINDS, NOTE_MAX_CHARS, Upload
from api.errors import AppError
from api.public_pages import HEADERS
from core.settings import Settings

SHELL = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>{title}</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 34rem; margin: 3rem auto;
  padding: 0 1rem; color: #222; line-height: 1.5; }}
label {{ display: block; margin: 1rem 0 .25rem; font-weight: 600; }}
textarea {{ width: 100%; box-sizing: border-box; font: inherit; }}
button {{ font: inherit; margin-top: 1.25rem; padding: .5rem 1.5rem; cursor: pointer; }}
.from {{ color: #555; margin-bottom: 0; }}
.hint {{ color: #555; font-size: .9rem; margin: .25rem 0; }}
.error {{ border-left: 4px solid #b00020; padding: .5rem .75rem; background: #fdecee; }}
</style>
</head>
<body>
{content}
</body>
</html>
"""
FORM = """<p class="from">{business}</p>
<h1>{title}</h1>
<p>Due {due}</p>
{error}<p>When this is done, let us know here. You can add a note and attach documents.</p>
<form method="post" enctype="multipart/form-data">
<label for="note">Note (optional)</label>
<textarea id="note" name="note" rows="4" maxlength="{note_max}">{note}</textarea>
<label for="files">Documents (optional)</label>
<input id="files" type="file" name="files" multiple accept="{accept}">
<p class="hint">Up to {max_files} files, {max_mb} MB each: {kinds}.</p>
<button type="submit">Done</button>
</form>"""
THANKS = """<p class="from">{business}</p>
<h1>Thank you</h1>
<p>We have let {business} know that <strong>{title}</strong> (due {due}) is done.</p>
{files}"""
ALREADY = """<p class="from">{business}</p>
<h1>Already done</h1>
<p><strong>{title}</strong> (due {due}) was marked as done{when}. Nothing more is needed
from you.</p>"""
PROBLEM = """<h1>{heading}</h1>
<p>{detail}</p>"""
HEADINGS = {404: "Link not valid", 410: "Link expired", 503: "Please try again"}


def _page(title: str, content: str, status: int = 200, **headers: str) -> HTMLResponse:
    return HTMLResponse(
        SHELL.format(title=escape(title), content=content),
        status_code=status,
        headers={**HEADERS, **headers},
    )


def _local(target: DoneTarget, at: datetime) -> datetime:
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    try:
        return at.astimezone(ZoneInfo(target.reminder.timezone))
    except (ZoneInfoNotFoundError, ValueError):
        return at


def due_date(target: DoneTarget) -> str:
    """The period's due day in the reminder's time zone, e.g. "Thursday 7 January 2027"."""
    due = _local(target, datetime.fromisoformat(target.link.period.removesuffix("Z") + "+00:00"))
    return f"{due:%A} {due.day} {due:%B %Y}"


def _names(target: DoneTarget) -> dict[str, str]:
    return {
        "business": escape(target.business.name),
        "title": escape(target.reminder.title),
        "due": escape(due_date(target)),
    }


def form(
    target: DoneTarget,
    settings: Settings,
    error: str | None = None,
    note: str = "",
    status: int = 200,
) -> HTMLResponse:
    """The page a link opens: what is due, and the form that says it is done."""
    content = FORM.format(
        **_names(target),
        error=f'<p class="error" role="alert">{escape(error)}</p>\n' if error else "",
        note=escape(note[:NOTE_MAX_CHARS]),
        note_max=NOTE_MAX_CHARS,
        accept=",".join(KINDS),
        max_files=settings.DONE_UPLOAD_MAX_FILES,
        max_mb=settings.DONE_UPLOAD_MAX_FILE_BYTES // (1024 * 1024) or 1,
        kinds=ALLOWED_NAMES,
    )
    return _page(target.reminder.title, content, status)


def thanks(target: DoneTarget, files: list[Upload]) -> HTMLResponse:
    listed = "".join(f"<li>{escape(upload.filename)}</li>" for upload in files)
    received = f"<p>Documents received:</p>\n<ul>{listed}</ul>" if files else ""
    return _page("Thank you", THANKS.format(**_names(target), files=received))


def already_done(target: DoneTarget, done_at: datetime | None, status: int = 200) -> HTMLResponse:
    local = _local(target, done_at) if done_at else None
    when = f" on {local.day} {local:%B %Y}" if local else ""
    return _page("Already done", ALREADY.format(**_names(target), when=when), status)


def problem(error: AppError) -> HTMLResponse:
    """A page for a link that cannot be used (404, 410) or a failure to try again (503)."""
    heading = HEADINGS.get(error.status_code, "Something went wrong")
    content = PROBLEM.format(heading=escape(heading), detail=escape(error.detail))
    extra = {"Retry-After": "60"} if error.status_code == 503 else {}
    return _page(heading, content, error.status_code, **extra)
