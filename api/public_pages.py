"""Pages for people who are not signed in: a client following their unsubscribe or done
link. What every such page answers with, so each keeps to itself."""

from __future__ import annotations

from typing import Any

# The pages load nothing and post only back to themselves; the token in their URL goes
# nowhere (no referrer, no cache, no framing).
HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
# How OpenAPI documents such a route: a page for a person (`Response`, so FastAPI
# documents no JSON body for it).
PAGE_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {"description": "An HTML page", "content": {"text/html": {"schema": {"type": "string"}}}}
}
