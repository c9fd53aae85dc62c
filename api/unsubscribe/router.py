"""The one-click unsubscribe link in every email (List-Unsubscribe, RFC 8058).

GET only shows a confirmation page, because mail scanners open links; POST, from that page
or from the mail client's own unsubscribe button, opts the client out. The signed token in
the path is the only credential. Once unsubscribed, the page offers to subscribe again: the
client's own way back, since the business's staff cannot lift a client's opt-out.
"""

from __future__ import annotations

from html import escape
from typing import Annotated

from fastapi import APIRouter, Form, Response
from fastapi.responses import HTMLResponse

from api.deps import SessionDep, SettingsDep
from api.errors import error_responses
from api.public_pages import HEADERS, PAGE_RESPONSE
from api.unsubscribe import service

router = APIRouter(
    prefix="/unsubscribe", tags=["unsubscribe"], responses=error_responses(400, 404, 422, 503)
)
# The answer is a page for a person; errors stay JSON like everywhere else.

CHANNEL_NAMES = {"email": "email", "sms": "SMS", "whatsapp": "WhatsApp"}
PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>Unsubscribe</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 32rem; margin: 4rem auto;
  padding: 0 1rem; color: #222; line-height: 1.5; }}
button {{ font: inherit; padding: .5rem 1.25rem; cursor: pointer; }}
</style>
</head>
<body>
<h1>Unsubscribe</h1>
{content}
</body>
</html>
"""
CONFIRM = """<p>Stop receiving {channel} reminders from <strong>{business}</strong>?</p>
<form method="post">
<input type="hidden" name="List-Unsubscribe" value="One-Click">
<button type="submit">Unsubscribe</button>
</form>"""
DONE = """<p>You will no longer receive {channel} reminders from <strong>{business}</strong>.</p>
<form method="post">
<input type="hidden" name="action" value="resubscribe">
<button type="submit">Subscribe again</button>
</form>"""
RESUBSCRIBED = "<p>You will receive {channel} reminders from <strong>{business}</strong> again.</p>"


def _page(template: str, target: service.UnsubscribeTarget) -> HTMLResponse:
    content = template.format(
        channel=CHANNEL_NAMES.get(target.channel, target.channel),
        business=escape(target.business_name),
    )
    return HTMLResponse(PAGE.format(content=content), headers=HEADERS)


@router.get("/{token}", response_class=Response, responses=PAGE_RESPONSE)
async def confirm_unsubscribe(
    token: str, session: SessionDep, settings: SettingsDep
) -> HTMLResponse:
    """A page asking the client to confirm; opening it changes nothing."""
    target = await service.load_target(session, settings.SECRET_KEY, token)
    return _page(DONE if target.opted_out else CONFIRM, target)


@router.post("/{token}", response_class=Response, responses=PAGE_RESPONSE)
async def unsubscribe(
    token: str,
    session: SessionDep,
    settings: SettingsDep,
    action: Annotated[str | None, Form(max_length=20)] = None,
) -> HTMLResponse:
    """Opt the client out of the link's channel (one-click; doing it again is harmless), or
    back in with `action=resubscribe` from the page."""
    back = action == "resubscribe"
    target = await service.follow_link(session, settings.SECRET_KEY, token, resubscribe=back)
    return _page(RESUBSCRIBED if back else DONE, target)
