from __future__ import annotations

from fastapi import APIRouter, Request

from api.admin.schemas import ReconcileReportRead
from api.deps import SettingsDep, SuperUser, TemporalClientDep
from api.errors import AUTHENTICATED_ERRORS, ServiceUnavailable, error_responses
from core.reconcile import TemporalUnavailable, reconcile

router = APIRouter(
    prefix="/admin", tags=["admin"], responses=error_responses(*AUTHENTICATED_ERRORS, 403)
)


@router.post("/reconcile", response_model=ReconcileReportRead)
async def run_reconcile(
    user: SuperUser, client: TemporalClientDep, settings: SettingsDep, request: Request
) -> ReconcileReportRead:
    """Check every active reminder against its workflow and repair drift."""
    try:
        report = await reconcile(
            request.app.state.sessionmaker,
            client,
            settings,
            actor_user_id=user.id,
            source="api",
        )
    except TemporalUnavailable as exc:
        raise ServiceUnavailable(str(exc)) from None
    return ReconcileReportRead.model_validate(report.as_dict())
