"""Attacks on the API's CPU: requests that each cost a quarter of a second of bcrypt or
seconds of recurrence search, sent fast enough to stall the API for everyone.

Password checks are held in bcrypt by `held_checks` until the test lets them go, so a test
knows they are in flight while it looks (no test measures a duration). On code that ran
bcrypt on the event loop, a held check held the whole API, until the hold's safety timeout.
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from core.settings import Settings
from tests.builders.apps import (
    WRONG_PASSWORD,
    add_tagged_clients,
    built_app,
    document_request,
    http_from,
    login,
    retry_after,
)
from tests.conftest import PASSWORD, Tenant, count_rows, eventually, register_tenant

REGISTER = "/api/v1/auth/register"
# Seconds a held check waits at most, a safety net: on code that hashed on the event loop
# it held the whole API that long (longer than the sign-in window below, so the window ends).
HOLD = 8.0


class HeldChecks:
    """Stands in for the bcrypt context: every password check waits in bcrypt until
    `release()`, and says when it began and ended."""

    def __init__(self, context: Any) -> None:
        self._context = context
        self._gate = threading.Event()
        self._lock = threading.Lock()
        self.started = 0
        self.order: list[str] = []  # what finished, first first

    def verify(self, *args: Any, **kwargs: Any) -> bool:
        with self._lock:
            self.started += 1
        self._gate.wait(HOLD)
        try:
            return bool(self._context.verify(*args, **kwargs))
        finally:
            self.order.append("password check")

    def hash(self, *args: Any, **kwargs: Any) -> str:
        return str(self._context.hash(*args, **kwargs))

    def release(self) -> None:
        self._gate.set()

    async def wait_started(self, count: int) -> None:
        async def started() -> bool:
            return self.started >= count

        await eventually(started)


@pytest.fixture
def held_checks(monkeypatch: pytest.MonkeyPatch) -> Iterator[HeldChecks]:
    from core import security

    held = HeldChecks(security._pwd_context)
    monkeypatch.setattr(security, "_pwd_context", held)
    yield held
    held.release()


def stranger() -> str:
    return f"nobody-{uuid.uuid4().hex[:8]}@example.com"


# -- bcrypt off the event loop ------------------------------------------------------------


async def test_healthz_answers_while_password_checks_are_running(
    settings: Settings, held_checks: HeldChecks
) -> None:
    async with built_app(settings, PASSWORD_HASH_THREADS=2) as app, http_from(app) as http:
        checks = [asyncio.create_task(login(http, stranger(), WRONG_PASSWORD)) for _ in range(3)]
        await held_checks.wait_started(2)  # both threads in bcrypt, the third check waiting
        health = await http.get("/healthz")
        held_checks.order.append("healthz")
        held_checks.release()
        answers = await asyncio.gather(*checks)
    assert health.status_code == 200
    assert [answer.status_code for answer in answers] == [401, 401, 401]
    assert held_checks.order[0] == "healthz", held_checks.order


async def test_password_checks_past_the_pool_bound_get_503_with_retry_after(
    settings: Settings, held_checks: HeldChecks
) -> None:
    bound = {"PASSWORD_HASH_THREADS": 1, "PASSWORD_HASH_MAX_WAITING": 1}
    async with built_app(settings, **bound) as app, http_from(app) as http:
        checks = [asyncio.create_task(login(http, stranger(), WRONG_PASSWORD)) for _ in range(4)]
        await held_checks.wait_started(1)

        async def two_answered() -> bool:
            return sum(check.done() for check in checks) >= 2

        await eventually(two_answered)  # one check runs, one waits: the other two at once
        refused = [check.result() for check in checks if check.done()]
        held_checks.release()
        answers = await asyncio.gather(*checks)
    assert [busy.status_code for busy in refused] == [503, 503]
    for busy in refused:
        assert retry_after(busy) >= 1
        assert "passwords are being checked" in busy.json()["detail"]
    assert sorted(answer.status_code for answer in answers) == [401, 401, 503, 503]


# -- registration -----------------------------------------------------------------------


def registration(email: str, password: str = PASSWORD) -> dict[str, str]:
    return {"email": email, "password": password, "full_name": "E", "business_name": "E Ltd"}


async def test_registrations_past_the_limit_are_429_and_create_nothing(
    settings: Settings,
) -> None:
    async with built_app(settings, REGISTRATIONS_PER_IP="3/hour") as app:
        async with http_from(app) as http:
            first = await register_tenant(http)
            # Failed attempts count too: an email already taken, a password refused.
            taken = await http.post(REGISTER, json=registration(first.email))
            assert taken.status_code == 409
            weak = await http.post(REGISTER, json=registration(stranger(), "short"))
            assert weak.status_code == 422
            users, businesses = await count_rows(app, "users"), await count_rows(app, "businesses")

            over = await http.post(REGISTER, json=registration(stranger()))
            assert over.status_code == 429, over.text
            assert retry_after(over) <= 3600
            assert "REGISTRATIONS_PER_IP" in over.json()["detail"]
            assert await count_rows(app, "users") == users
            assert await count_rows(app, "businesses") == businesses
        async with http_from(app) as elsewhere:  # another address is not affected
            await register_tenant(elsewhere)


# -- sign-in: the address's failure budget ----------------------------------------------


async def test_sign_ins_to_the_attackers_own_account_never_refill_the_address_budget(
    settings: Settings, held_checks: HeldChecks
) -> None:
    window = 5
    limits = {"LOGIN_MAX_FAILURES_PER_IP": 3, "LOGIN_FAILURE_WINDOW_SECONDS": window}
    async with built_app(settings, **limits) as app, http_from(app) as http:
        own = await register_tenant(http)
        # A right password whose check outlasts its window (windows are aligned to the
        # clock): what it gives back must not become an extra failure in the next one.
        began_in = int(time.time() // window)
        slow = asyncio.create_task(login(http, own.email, PASSWORD))
        await held_checks.wait_started(1)
        while int(time.time() // window) == began_in:
            await asyncio.sleep(0.05)
        held_checks.release()
        assert (await slow).status_code == 200

        # Guesses at other accounts, each followed by a sign-in to the attacker's own.
        for guess in range(3):
            assert (await login(http, stranger(), WRONG_PASSWORD)).status_code == 401
            if guess < 2:
                assert (await login(http, own.email, PASSWORD)).status_code == 200
        blocked = await login(http, stranger(), WRONG_PASSWORD)
        assert blocked.status_code == 429, blocked.text
        assert "network address" in blocked.json()["detail"]
        assert 1 <= retry_after(blocked) <= 2 * window
        assert (await login(http, own.email, PASSWORD)).status_code == 429
        async with http_from(app) as elsewhere:  # the account itself is fine
            assert (await login(elsewhere, own.email, PASSWORD)).status_code == 200


# -- recurrences whose next occurrence takes seconds to find ----------------------------

SOON = "2027-01-01T00:00:00Z"


@pytest.mark.parametrize(
    ("rrule", "start", "words"),
    [
        (
            "FREQ=HOURLY;BYMONTH=2;BYMONTHDAY=29;BYDAY=MO;BYHOUR=9",
            "2043-01-01T00:00:00Z",
            "FREQ=HOURLY must fire at least every two years",
        ),
        ("FREQ=DAILY;BYMONTH=2;BYMONTHDAY=29;BYDAY=MO", SOON, "up to 40 years apart"),
        ("FREQ=HOURLY;BYMONTH=2;BYMONTHDAY=29;BYHOUR=9", SOON, "up to 8 years apart"),
        ("FREQ=DAILY;BYYEARDAY=366", SOON, "FREQ=DAILY must fire at least every two years"),
        ("FREQ=DAILY;BYWEEKNO=53;BYMONTH=1;BYMONTHDAY=1", SOON, "say it with FREQ=YEARLY"),
        # Steps of whole weeks from a Friday only ever land on Fridays.
        ("FREQ=DAILY;INTERVAL=7;BYDAY=TU", SOON, "yields no occurrence"),
        ("FREQ=HOURLY;INTERVAL=168;BYDAY=MO;BYHOUR=0", SOON, "yields no occurrence"),
    ],
)
async def test_a_recurrence_that_can_go_years_without_firing_is_422_naming_the_problem(
    client: httpx.AsyncClient, owner: Tenant, app: Any, rrule: str, start: str, words: str
) -> None:
    await add_tagged_clients(client, owner, "vat", 1)
    schedule = {"kind": "recurring", "rrule": rrule, "start": start}
    response = await client.post(
        "/api/v1/reminders", headers=owner.headers, json=document_request(schedule, tag="vat")
    )
    assert response.status_code == 422, response.text
    assert response.json()["detail"].startswith("schedule.rrule: ")
    assert words in response.json()["detail"]
    assert await count_rows(app, "reminders") == 0


RARE_BUT_FINE = [
    "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29",  # 29 February, every leap year
    "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29;BYDAY=MO",  # a Monday 29 February, said yearly
    "FREQ=MONTHLY;BYMONTH=2;BYMONTHDAY=29;BYDAY=MO",  # ... or monthly, or weekly
    "FREQ=WEEKLY;BYMONTH=2;BYMONTHDAY=29;BYDAY=MO",
    "FREQ=MONTHLY;BYMONTHDAY=13;BYDAY=FR",  # Friday the 13th
    "FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1",  # the last weekday of the month
    "FREQ=MONTHLY;BYMONTHDAY=-1",
    "FREQ=YEARLY;BYMONTH=1;BYDAY=-1FR",
    "FREQ=WEEKLY;INTERVAL=2;BYDAY=TU,TH",
    "FREQ=WEEKLY;BYWEEKNO=1;BYDAY=MO",
    "FREQ=DAILY;BYWEEKNO=1;BYDAY=MO",  # some years on 29-31 December
    "FREQ=WEEKLY;BYWEEKNO=52;BYDAY=SU",  # some years on 1-3 January
    "FREQ=DAILY;BYDAY=MO,TU,WE,TH,FR;BYHOUR=9",
    "FREQ=DAILY;BYMONTH=12;BYHOUR=9",
    "FREQ=DAILY;BYMONTHDAY=31",
    "FREQ=DAILY;BYYEARDAY=1,-1",
    "FREQ=DAILY;BYMONTHDAY=13;BYDAY=FR",  # up to 14 months apart
    "FREQ=DAILY;INTERVAL=7;BYMONTHDAY=13",  # from a Friday: Fridays the 13th
    "FREQ=HOURLY;BYDAY=SA,SU;BYHOUR=10,16",
]


async def test_rare_but_legitimate_recurrences_are_accepted(
    live_app: Any, client: httpx.AsyncClient, owner: Tenant
) -> None:
    await add_tagged_clients(client, owner, "vat", 1)
    for rrule in RARE_BUT_FINE:
        schedule = {"kind": "recurring", "rrule": rrule, "start": SOON}
        response = await client.post(
            "/api/v1/reminders", headers=owner.headers, json=document_request(schedule, tag="vat")
        )
        assert response.status_code == 201, (rrule, response.text)
        assert response.json()["next_fire_at"] is not None
    assert await count_rows(live_app, "reminders") == len(RARE_BUT_FINE)
