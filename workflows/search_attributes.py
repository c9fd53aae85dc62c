"""Search attribute keys of API.md, so operators can filter reminders in the Web UI."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from temporalio.common import SearchAttributeKey, SearchAttributePair, TypedSearchAttributes

BUSINESS_ID = SearchAttributeKey.for_keyword("BusinessId")
REMINDER_TYPE = SearchAttributeKey.for_keyword("ReminderType")
REMINDER_STATE = SearchAttributeKey.for_keyword("ReminderState")
CLIENT_IDS = SearchAttributeKey.for_keyword_list("ClientIds")
NEXT_FIRE_TIME = SearchAttributeKey.for_datetime("NextFireTime")

# Temporal refuses a search attribute value larger than this (about 52 client ids).
MAX_VALUE_BYTES = 2048


def at_start(
    business_id: Any,
    reminder_type: str,
    state: str,
    client_ids: Sequence[Any],
    next_fire_at: datetime | None,
) -> TypedSearchAttributes:
    """What a reminder workflow is started with (by the API or by reconcile)."""
    pairs: list[SearchAttributePair[Any]] = [
        SearchAttributePair(BUSINESS_ID, str(business_id)),
        SearchAttributePair(REMINDER_TYPE, reminder_type),
        SearchAttributePair(REMINDER_STATE, state),
    ]
    ids = [str(c) for c in client_ids]
    # A long client list would be refused whole; like a tag reminder's, such a reminder is
    # then found by BusinessId only.
    if ids and len(json.dumps(ids)) <= MAX_VALUE_BYTES:
        pairs.append(SearchAttributePair(CLIENT_IDS, ids))
    if next_fire_at is not None:
        pairs.append(SearchAttributePair(NEXT_FIRE_TIME, next_fire_at))
    return TypedSearchAttributes(pairs)
