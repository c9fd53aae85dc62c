"""Dashboard figures for a business."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from api.cache import Cache
from api.dashboard import service
from api.dashboard.schemas import DashboardSummary, DashboardTimeseries
from api.deps import CurrentActor, SessionDep
from api.errors import ACTOR_ERRORS, error_responses

router = APIRouter(
    prefix="/dashboard", tags=["dashboard"], responses=error_responses(*ACTOR_ERRORS)
)


def get_cache(request: Request) -> Cache:
    cache: Cache = request.app.state.cache
    return cache


CacheDep = Annotated[Cache, Depends(get_cache)]


@router.get("/summary", response_model=DashboardSummary)
async def dashboard_summary(
    actor: CurrentActor, session: SessionDep, cache: CacheDep
) -> DashboardSummary:
    """Deliveries by status and channel, delivery rate, recent failures, reminders due soon."""
    return await service.summary(session, cache, actor.business)


@router.get("/timeseries", response_model=DashboardTimeseries)
async def dashboard_timeseries(
    actor: CurrentActor,
    session: SessionDep,
    cache: CacheDep,
    days: Annotated[int, Query(ge=1, le=366, description="Days up to today, 1 to 366.")] = 30,
) -> DashboardTimeseries:
    """Deliveries per day and status in the business's time zone, oldest day first."""
    return await service.timeseries(session, cache, actor.business, days)
