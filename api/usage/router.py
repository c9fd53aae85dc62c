"""Usage for billing: messages sent per channel in a month."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from api.deps import CurrentActor, SessionDep
from api.errors import ACTOR_ERRORS, error_responses
from api.usage import service
from api.usage.schemas import UsageRead

router = APIRouter(tags=["usage"], responses=error_responses(*ACTOR_ERRORS))

MonthQuery = Annotated[
    str | None,
    Query(
        max_length=7,
        description="YYYY-MM, read in the business's time zone; default: the current month.",
    ),
]


@router.get("/usage", response_model=UsageRead)
async def read_usage(
    actor: CurrentActor, session: SessionDep, month: MonthQuery = None
) -> UsageRead:
    """Messages per channel in a month: sent, delivered, undelivered or failed with a provider id."""
    wanted = service.parse_month(month, actor.business.timezone)
    return await service.business_usage(session, actor.business, wanted)
