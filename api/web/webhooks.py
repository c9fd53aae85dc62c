"""The dashboard's Webhooks page: the business's endpoints, each with its latest
deliveries (status, attempts, last answer), and a "Send test event" form for owners.
Through the API's own `webhook_endpoints` service, so the page and the REST log agree."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from api.deps import SessionDep, as_uuid
from api.errors import Conflict, NotFound
from api.web.deps import CheckedForm, WebContextDep, WebError
from api.web.render import redirect, render
from api.webhook_endpoints import service

router = APIRouter(prefix="/admin", include_in_schema=False)

PAGE = "/admin/webhooks"
ENDPOINTS_SHOWN = 50
DELIVERIES_SHOWN = 10
NOT_YOURS = "This webhook endpoint does not exist, or is not yours to see."


@router.get("/webhooks", response_class=HTMLResponse)
async def webhooks(request: Request, ctx: WebContextDep, session: SessionDep) -> Response:
    actor = ctx.actor  # a superuser chooses a business first
    endpoints, _ = await service.list_endpoints(session, actor, ENDPOINTS_SHOWN, 0)
    rows = []
    for endpoint in endpoints:
        deliveries, total = await service.list_deliveries(
            session, endpoint, DELIVERIES_SHOWN, 0, None
        )
        rows.append({"endpoint": endpoint, "deliveries": deliveries, "total": total})
    return render(request, "webhooks.html", ctx, rows=rows, is_owner=actor.is_owner)


@router.post("/webhooks/{endpoint_id}/test")
async def send_test(
    endpoint_id: str, ctx: WebContextDep, form: CheckedForm, session: SessionDep
) -> Response:
    actor = ctx.actor
    if not actor.is_owner:
        raise WebError(403, "Only the business owner may send test events.")
    parsed = as_uuid(endpoint_id)
    if parsed is None:
        raise WebError(404, NOT_YOURS)
    try:
        endpoint = await service.get_endpoint(session, actor, parsed)
        await service.send_test(session, actor, endpoint)
    except NotFound:
        raise WebError(404, NOT_YOURS) from None
    except Conflict as exc:
        raise WebError(409, exc.detail) from None
    return redirect(PAGE)
