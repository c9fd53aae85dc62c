"""What a reminder's input must satisfy beyond its schema, checked before Temporal is
reached: its clients, template and tag belong to the business, the schedule parses and is
not more frequent than MIN_RECURRENCE_INTERVAL_MINUTES, and the time zone it defaults to."""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from api.deps import Actor
from api.errors import Unprocessable
from api.reminders.schemas import ReminderCreate
from core.repositories.clients import ClientRepository
from core.repositories.reminders import ReminderRepository
from core.repositories.templates import TemplateRepository
from core.repositories.users import UserRepository
from core.settings import Settings
from workflows import schedule as schedules

log = logging.getLogger(__name__)


def request_hash(data: ReminderCreate) -> str:
    """SHA-256 of the request as validated, so key order and spacing do not matter."""
    canonical = json.dumps(
        data.model_dump(mode="json", exclude_unset=True), sort_keys=True, separators=(",", ":")
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


async def client_timezones(
    session: AsyncSession, actor: Actor, client_ids: list[uuid.UUID]
) -> dict[uuid.UUID, str | None]:
    """The time zone of each given client; 422 naming the ids that are not the caller's."""
    found = await ReminderRepository(session).clients_of_business(actor.business_id, client_ids)
    zones = {client.id: client.timezone for client in found}
    unknown = [str(client_id) for client_id in client_ids if client_id not in zones]
    if unknown:
        raise Unprocessable(f"client_ids: unknown clients: {', '.join(unknown)}")
    return zones


async def check_staff_member(session: AsyncSession, actor: Actor, user_id: uuid.UUID) -> None:
    if await UserRepository(session).member_user(actor.business_id, user_id) is None:
        raise Unprocessable(f"escalate_to_user_id: no staff member {user_id} in this business")


async def check_template_id(session: AsyncSession, actor: Actor, template_id: uuid.UUID) -> None:
    if await TemplateRepository(session).get(actor.business_id, template_id) is None:
        raise Unprocessable(f"template_id: no template {template_id} in this business")


def validated_schedule(
    raw: Any,
    timezone: str,
    now: datetime,
    min_interval_minutes: int = 0,
    country: str | None = None,
) -> tuple[dict[str, Any], datetime]:
    """The normalised schedule and its next occurrence after `now`; 422 otherwise, also
    when a recurrence fires more often than every `min_interval_minutes`. Business days
    that name no country take `country` (the business's)."""
    raw = _with_country(raw, country)
    try:
        _check_rule_interval(raw, min_interval_minutes)  # first: it names the setting
        schedule = schedules.validate_schedule(raw, timezone)
        upcoming = schedules.next_occurrence(schedule, timezone, now)
        if schedule.get("kind") == "recurring":
            _check_occurrence_gaps(schedule, timezone, now, min_interval_minutes)
    except schedules.ScheduleError as exc:
        raise Unprocessable(str(exc)) from None
    except (ValueError, TypeError, OverflowError) as exc:  # bad input is never a 500
        log.warning("schedule refused by an unexpected error: %r", exc)
        raise Unprocessable(f"schedule: not a valid schedule ({exc})") from None
    if upcoming is None:
        raise Unprocessable("schedule: it has no occurrence in the future")
    return schedule, upcoming.at


def _with_country(raw: Any, country: str | None) -> Any:
    days = raw.get("business_days") if isinstance(raw, dict) else None
    if not isinstance(days, dict) or days.get("country") is not None:
        return raw
    if country is None:
        raise Unprocessable(
            "schedule.business_days.country: required, since the business has no country "
            "(set it with PATCH /business, or name one here)"
        )
    return {**raw, "business_days": {**days, "country": country}}


# Occurrences looked at for the shortest gap: enough to see a day's BYHOUR expansion, and
# only those within a year (a rare rule's 50 occurrences can span centuries).
GAP_SAMPLE = 50
GAP_HORIZON = timedelta(days=366)


def _too_frequent(what: str, minimum: int) -> schedules.ScheduleError:
    return schedules.ScheduleError(
        f"schedule.rrule: {what}; occurrences must be at least {minimum} minutes apart "
        "(MIN_RECURRENCE_INTERVAL_MINUTES)"
    )


def _check_rule_interval(raw: Any, minimum: int) -> None:
    """Refuse, from the rule's text alone, what is sure to fire too often: SECONDLY or
    MINUTELY, HOURLY every fewer hours than the minimum, BYMINUTE/BYSECOND values that
    fire twice within one hour too close together (the schedule maths refuses some of
    these too, without naming this setting)."""
    if minimum <= 0 or not isinstance(raw, dict) or not isinstance(raw.get("rrule"), str):
        return
    parts = dict(
        item.partition("=")[::2]
        for item in raw["rrule"].upper().replace(" ", "").removeprefix("RRULE:").split(";")
    )
    freq = parts.get("FREQ", "")
    if freq in ("SECONDLY", "MINUTELY"):
        raise _too_frequent(f"FREQ={freq} fires more often than that", minimum)
    interval = parts.get("INTERVAL", "1")
    if freq == "HOURLY" and "BYHOUR" not in parts and interval.isdigit():
        if int(interval) * 60 < minimum:
            raise _too_frequent(
                f"FREQ=HOURLY;INTERVAL={interval} fires every {interval} h", minimum
            )
    minutes, seconds = parts.get("BYMINUTE", "0"), parts.get("BYSECOND", "0")
    if not all(v.isdigit() for v in f"{minutes},{seconds}".split(",")):
        return  # malformed: the schedule maths says what is wrong
    within_hour = sorted(
        {int(m) * 60 + int(s) for m in minutes.split(",") for s in seconds.split(",")}
    )
    gaps = [later - earlier for earlier, later in zip(within_hour, within_hour[1:], strict=False)]
    if gaps and min(gaps) < minimum * 60:
        raise _too_frequent(
            f"BYMINUTE/BYSECOND fire twice within an hour, {min(gaps) // 60} min apart", minimum
        )


def _check_occurrence_gaps(
    schedule: dict[str, Any], timezone: str, now: datetime, minimum: int
) -> None:
    """Refuse a rule whose next occurrences come closer than the minimum (a BYHOUR list,
    say, or an HOURLY rule across a DST change)."""
    if minimum <= 0:
        return
    upcoming = [
        o.at for o in schedules.occurrences(schedule, timezone, now, GAP_SAMPLE, now + GAP_HORIZON)
    ]
    gaps = [later - earlier for earlier, later in zip(upcoming, upcoming[1:], strict=False)]
    shortest = min(gaps, default=None)
    if shortest is not None and shortest < timedelta(minutes=minimum):
        minutes = int(shortest.total_seconds() // 60)
        raise _too_frequent(f"two occurrences are only {minutes} minutes apart", minimum)


async def check_tag_reach(
    session: AsyncSession, actor: Actor, tag: str, settings: Settings
) -> None:
    """Refuse a tag that reaches more clients than one reminder may (counted now; the
    workflow reads the tag again at each occurrence)."""
    _, reached = await ClientRepository(session).list_page(
        actor.business_id, search=None, tag=tag, limit=1, offset=0
    )
    if reached > settings.REMINDER_MAX_CLIENTS:
        raise Unprocessable(
            f"tag: {reached} clients have the tag {tag!r}; one reminder may reach at most "
            f"{settings.REMINDER_MAX_CLIENTS} (REMINDER_MAX_CLIENTS): split them by tag"
        )


def default_timezone(actor: Actor, zones: dict[uuid.UUID, str | None]) -> str:
    if len(zones) == 1:
        (zone,) = zones.values()
        if zone:
            return zone
    return actor.business.timezone
