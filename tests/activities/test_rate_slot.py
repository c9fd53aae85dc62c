"""A send's place under the channel's rate limit: waited for in the worker when near,
kept on the delivery when far, and taken again when the send came back too late for it."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from temporalio.exceptions import ApplicationError

from activities.delivery import DeliveryBook
from activities.rate_slots import wait_for_rate_slot
from core.models import Delivery
from core.ratelimit import LocalRateLimiter, Reservation
from core.settings import Settings
from core.types import utcnow


class CountingLimiter(LocalRateLimiter):
    def __init__(self) -> None:
        super().__init__()
        self.reservations = 0

    async def reserve(self, key: str, rate_per_second: float, max_wait: float) -> Reservation:
        self.reservations += 1
        return await super().reserve(key, rate_per_second, max_wait)


class NoSession:
    """The row is not stored in these tests; commits have nothing to write."""

    async def commit(self) -> None:
        return None


@pytest.fixture
def book(settings: Settings) -> tuple[DeliveryBook, CountingLimiter]:
    limiter = CountingLimiter()
    tight = settings.model_copy(
        update={"SMS_RATE_PER_SECOND": 2.0, "SEND_RATE_MAX_WAIT_SECONDS": 0.6}
    )
    return DeliveryBook(Any, tight, limiter), limiter  # type: ignore[arg-type]


async def hold(book: DeliveryBook, delivery: Delivery) -> None:
    session: Any = NoSession()
    await wait_for_rate_slot(session, delivery, book.settings, book.limiter)


async def test_far_slots_are_kept_on_the_row_and_handed_back_to_temporal(
    book: tuple[DeliveryBook, CountingLimiter],
) -> None:
    deliveries, limiter = book
    sent = [Delivery(channel="sms") for _ in range(3)]
    # Due together: slots now, half a second on (both waited for here), and one second on,
    # beyond the 0.6 s the worker waits.
    outcomes = await asyncio.gather(*(hold(deliveries, d) for d in sent), return_exceptions=True)
    assert outcomes[:2] == [None, None]
    raised = outcomes[2]
    assert isinstance(raised, ApplicationError)
    assert raised.type == "RateLimited"
    assert raised.next_retry_delay is not None
    assert sent[2].send_slot_at is not None
    assert [d.send_slot_at is None for d in sent[:2]] == [True, True]
    assert limiter.reservations == 3


async def test_a_send_back_for_its_kept_slot_takes_no_new_place(
    book: tuple[DeliveryBook, CountingLimiter],
) -> None:
    deliveries, limiter = book
    delivery = Delivery(channel="sms", send_slot_at=utcnow() + timedelta(milliseconds=50))
    await hold(deliveries, delivery)
    assert limiter.reservations == 0


async def test_a_send_back_long_after_its_slot_queues_again(
    book: tuple[DeliveryBook, CountingLimiter],
) -> None:
    deliveries, limiter = book
    delivery = Delivery(channel="sms", send_slot_at=utcnow() - timedelta(seconds=30))
    await hold(deliveries, delivery)
    assert limiter.reservations == 1  # late arrivals do not all go out at once


async def test_unlimited_channels_take_no_slot(
    book: tuple[DeliveryBook, CountingLimiter], settings: Settings
) -> None:
    deliveries, limiter = book
    deliveries.settings = settings.model_copy(update={"EMAIL_RATE_PER_SECOND": 0})
    await hold(deliveries, Delivery(channel="email"))
    assert limiter.reservations == 0
