from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Select, func, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

T = TypeVar("T")


def escape_like(term: str) -> str:
    return term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


# Counting stops here: "10,000 or more" tells a person as much as the exact figure, and it
# costs a bounded scan where counting a firm's million deliveries took 70 ms a page.
COUNT_CAP = 10_000


class Total(int):
    """How many rows a query matches; `exact` is False when counting stopped at COUNT_CAP
    (then at least that many match)."""

    exact: bool

    def __new__(cls, value: int, exact: bool = True) -> Total:
        total = super().__new__(cls, value)
        total.exact = exact
        return total


@dataclass(frozen=True)
class Keyset:
    """Where the previous page of a newest-first list ended: its last row's time and id."""

    created_at: datetime
    id: uuid.UUID


async def count_capped(session: AsyncSession, stmt: Select[Any]) -> Total:
    bounded = stmt.order_by(None).limit(COUNT_CAP + 1).subquery()
    counted = int(await session.scalar(select(func.count()).select_from(bounded)) or 0)
    return Total(min(counted, COUNT_CAP), exact=counted <= COUNT_CAP)


async def paginate(
    session: AsyncSession,
    stmt: Select[Any],
    limit: int,
    offset: int,
    after: Keyset | None = None,
    model: Any = None,
) -> tuple[list[Any], Total]:
    """One page of a query's rows and how many rows it matches (up to COUNT_CAP). With
    `after` (lists ordered newest first by `model`'s created_at and id), the page starts
    after that row instead of at `offset`: as quick at the millionth row as at the first."""
    total = await count_capped(session, stmt)
    if after is not None:
        stmt = stmt.where(tuple_(model.created_at, model.id) < (after.created_at, after.id))
        offset = 0
    rows = (await session.scalars(stmt.limit(limit).offset(offset))).unique().all()
    return list(rows), total
