"""Dashboard figures. Every status and channel is present, with zero when there is none."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, Field


class ChannelFigures(BaseModel):
    total: int
    by_status: dict[str, int]


class DeliveryFigures(BaseModel):
    total: int
    by_status: dict[str, int] = Field(description="Deliveries per status, ever.")
    by_channel: dict[str, ChannelFigures] = Field(
        description="Per channel: its total and its deliveries per status."
    )


class ReminderFigures(BaseModel):
    total: int
    by_status: dict[str, int]
    due_next_24h: int = Field(
        description="Scheduled reminders whose next occurrence falls in the next 24 hours."
    )
    due_next_7d: int = Field(
        description="Scheduled reminders whose next occurrence falls in the next 7 days "
        "(includes those of the next 24 hours)."
    )


class DashboardSummary(BaseModel):
    deliveries: DeliveryFigures
    delivery_rate: float | None = Field(
        description="delivered / (sent + delivered + failed + undelivered), from 0 to 1: the "
        "share of messages handed to a provider that are confirmed delivered. Pending and "
        "skipped deliveries are left out; null when there is no such message yet."
    )
    failures_last_24h: int = Field(
        description="Deliveries failed or undelivered among those created in the last 24 hours."
    )
    reminders: ReminderFigures
    generated_at: dt.datetime = Field(
        description="When these figures were computed; they are cached for a short while."
    )


class DayCounts(BaseModel):
    date: dt.date = Field(description="A calendar day in the business's time zone.")
    total: int
    counts: dict[str, int] = Field(description="Deliveries created that day, per status.")


class DashboardTimeseries(BaseModel):
    timezone: str = Field(description="The business's time zone, in which days are counted.")
    days: list[DayCounts] = Field(description="Every day of the range, oldest first.")
    generated_at: dt.datetime
