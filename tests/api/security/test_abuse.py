"""Attacks on the service's limits: guessing passwords, flooding the API, asking one request
to create or send far too much. Each test attacks one protection and checks it holds.

Purpose-built apps get small limits through their settings. Every test signs in from an
address of its own (the ASGI client's), so counts kept in a shared Redis never meet those
of other tests or other runs.
"""

from __future__ import annotations

import asyncio
import os
import re
import uuid
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
    new_ip,
    retry_after,
)
from tests.conftest import PASSWORD, Tenant, count_rows, register_tenant

LOGIN_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


# -- sign-in brute force ----------------------------------------------------------------


async def test_sixth_wrong_password_is_429_and_then_even_the_right_one(app: Any) -> None:
    async with http_from(app) as http:
        owner = await register_tenant(http)
        for _ in range(5):
            assert (await login(http, owner.email, WRONG_PASSWORD)).status_code == 401

        blocked = await login(http, owner.email, WRONG_PASSWORD)
        assert blocked.status_code == 429, blocked.text
        assert retry_after(blocked) <= 900
        assert "sign-in attempts" in blocked.json()["detail"]

        right = await login(http, owner.email, PASSWORD)
        assert right.status_code == 429
        assert "even with the right password" in right.json()["detail"]
        assert "access_token" not in right.text
    # From another address the account is still locked: the count is the account's.
    async with http_from(app) as elsewhere:
        assert (await login(elsewhere, owner.email, PASSWORD)).status_code == 429


async def test_throttled_attempts_are_recorded_without_the_password(app: Any) -> None:
    async with http_from(app) as http:
        owner = await register_tenant(http)
        for _ in range(6):
            await login(http, owner.email, WRONG_PASSWORD)
        assert (await login(http, owner.email, PASSWORD)).status_code == 429

    from sqlalchemy import select

    from core.models import AppEvent

    async with app.state.sessionmaker() as session:
        events = (
            await session.scalars(select(AppEvent).where(AppEvent.action == "auth.login_throttled"))
        ).all()
    mine = [e for e in events if e.payload.get("email") == owner.email]
    assert len(mine) == 2
    assert all(e.payload["limit"] == "account" for e in mine)
    assert all(str(e.business_id) == owner.business_id for e in mine)
    assert all(e.subject_id == owner.user_id for e in mine)
    assert PASSWORD not in str([e.payload for e in mine])
    assert WRONG_PASSWORD not in str([e.payload for e in mine])


async def test_a_locked_account_does_not_lock_other_accounts_on_the_same_address(
    app: Any,
) -> None:
    async with http_from(app) as http:
        victim = await register_tenant(http, "Victim")
        other = await register_tenant(http, "Other")
        for _ in range(6):
            await login(http, victim.email, WRONG_PASSWORD)
        assert (await login(http, victim.email, PASSWORD)).status_code == 429
        assert (await login(http, other.email, PASSWORD)).status_code == 200


async def test_a_right_password_clears_the_account_failures(app: Any) -> None:
    async with http_from(app) as http:
        owner = await register_tenant(http)
        for _ in range(4):
            assert (await login(http, owner.email, WRONG_PASSWORD)).status_code == 401
        assert (await login(http, owner.email, PASSWORD)).status_code == 200
        # Five more failures are allowed again before the lock.
        for _ in range(5):
            assert (await login(http, owner.email, WRONG_PASSWORD)).status_code == 401
        assert (await login(http, owner.email, WRONG_PASSWORD)).status_code == 429


async def test_parallel_guesses_cannot_slip_past_the_account_limit(app: Any) -> None:
    async with http_from(app) as http:
        owner = await register_tenant(http)
        answers = await asyncio.gather(
            *(login(http, owner.email, WRONG_PASSWORD) for _ in range(12))
        )
    codes = sorted(response.status_code for response in answers)
    assert codes.count(401) == 5, codes
    assert codes.count(429) == 7, codes


async def test_the_address_limit_trips_across_many_accounts(settings: Settings) -> None:
    async with built_app(settings, LOGIN_MAX_FAILURES_PER_IP=4) as app:
        ip = new_ip()
        async with http_from(app, ip) as http:
            owner = await register_tenant(http)
            # Spraying one password over many accounts, one guess each: no account limit
            # is reached, the address's is.
            for n in range(4):
                sprayed = await login(
                    http, f"user{n}-{uuid.uuid4().hex[:6]}@example.com", WRONG_PASSWORD
                )
                assert sprayed.status_code == 401
            blocked = await login(http, f"next-{uuid.uuid4().hex[:6]}@example.com", WRONG_PASSWORD)
            assert blocked.status_code == 429
            assert "network address" in blocked.json()["detail"]
            retry_after(blocked)
            # A real account from that address is refused too, password unchecked.
            assert (await login(http, owner.email, PASSWORD)).status_code == 429
        async with http_from(app) as elsewhere:  # another address is not affected
            assert (await login(elsewhere, owner.email, PASSWORD)).status_code == 200


async def test_successful_logins_do_not_use_up_the_address_limit(settings: Settings) -> None:
    async with built_app(settings, LOGIN_MAX_FAILURES_PER_IP=3) as app:
        async with http_from(app) as office:  # a whole office behind one address
            owner = await register_tenant(office)
            for _ in range(6):
                assert (await login(office, owner.email, PASSWORD)).status_code == 200


async def test_sign_in_works_again_after_the_window(settings: Settings) -> None:
    tiny = {"LOGIN_MAX_FAILURES_PER_ACCOUNT": 1, "LOGIN_FAILURE_WINDOW_SECONDS": 2}
    async with built_app(settings, **tiny) as app, http_from(app) as http:
        owner = await register_tenant(http)
        assert (await login(http, owner.email, WRONG_PASSWORD)).status_code == 401
        blocked = await login(http, owner.email, PASSWORD)
        assert blocked.status_code == 429
        assert retry_after(blocked) <= 2
        await asyncio.sleep(2.1)
        assert (await login(http, owner.email, PASSWORD)).status_code == 200


async def test_the_web_login_form_is_throttled_too(app: Any) -> None:
    async with http_from(app) as http:
        owner = await register_tenant(http)

        async def sign_in(password: str) -> httpx.Response:
            page = await http.get("/admin/login")
            found = LOGIN_CSRF.search(page.text)
            assert found is not None
            return await http.post(
                "/admin/login",
                data={"email": owner.email, "password": password, "csrf_token": found[1]},
            )

        for _ in range(5):
            assert (await sign_in(WRONG_PASSWORD)).status_code == 401
        blocked = await sign_in(PASSWORD)
        assert blocked.status_code == 429
        retry_after(blocked)
        assert 'class="error"' in blocked.text
        assert "even with the right password" in blocked.text
        assert "reminders_session" not in blocked.headers.get("set-cookie", "")
        # The API counts the same failures: it is locked there as well.
        assert (await login(http, owner.email, PASSWORD)).status_code == 429


# -- per-user API rate limit ------------------------------------------------------------


async def _tenant_token(http: httpx.AsyncClient, name: str) -> dict[str, str]:
    return (await register_tenant(http, name)).headers


async def test_the_api_rate_limit_answers_429_to_the_sixth_request(settings: Settings) -> None:
    async with built_app(settings, API_RATE_LIMIT="5/minute") as app, http_from(app) as http:
        greedy = await _tenant_token(http, "Greedy")
        for _ in range(5):
            assert (await http.get("/api/v1/users/me", headers=greedy)).status_code == 200
        over = await http.get("/api/v1/clients", headers=greedy)
        assert over.status_code == 429, over.text
        assert 1 <= retry_after(over) <= 60
        assert "API_RATE_LIMIT" in over.json()["detail"]

        # Another user is counted on their own, and anonymous routes not at all.
        calm = await _tenant_token(http, "Calm")
        assert (await http.get("/api/v1/users/me", headers=calm)).status_code == 200
        for _ in range(8):
            assert (await http.get("/healthz")).status_code == 200


async def test_requests_with_a_forged_token_are_not_counted_for_its_user(
    settings: Settings,
) -> None:
    from core.security import create_access_token

    async with built_app(settings, API_RATE_LIMIT="3/minute") as app, http_from(app) as http:
        victim = await register_tenant(http, "Victim")
        forged = create_access_token(uuid.UUID(victim.user_id), "not-the-secret-key-" * 3, 15)
        for _ in range(10):
            response = await http.get(
                "/api/v1/users/me", headers={"Authorization": f"Bearer {forged}"}
            )
            assert response.status_code == 401
        assert (await http.get("/api/v1/users/me", headers=victim.headers)).status_code == 200


@pytest.mark.skipif(
    not os.environ.get("REDIS_URL"), reason="sharing the count needs REDIS_URL (a real Redis)"
)
async def test_two_api_processes_share_one_count_through_redis(settings: Settings) -> None:
    async with (
        built_app(settings, API_RATE_LIMIT="4/minute") as first,
        built_app(settings, API_RATE_LIMIT="4/minute") as second,
        http_from(first) as one,
        http_from(second) as two,
    ):
        headers = await _tenant_token(one, "Shared")
        for http in (one, two, one, two):
            assert (await http.get("/api/v1/users/me", headers=headers)).status_code == 200
        for http in (one, two):
            over = await http.get("/api/v1/users/me", headers=headers)
            assert over.status_code == 429
            retry_after(over)


async def test_with_redis_unreachable_the_api_stays_up_and_logins_stay_limited(
    settings: Settings,
) -> None:
    closed = "redis://127.0.0.1:1/0"  # nothing listens there
    async with built_app(settings, REDIS_URL=closed, API_RATE_LIMIT="2/minute") as app:
        async with http_from(app) as http:
            owner = await register_tenant(http)
            for _ in range(4):  # over the API limit, but it fails open
                assert (
                    await http.get("/api/v1/users/me", headers=owner.headers)
                ).status_code == 200
            for _ in range(5):
                assert (await login(http, owner.email, WRONG_PASSWORD)).status_code == 401
            assert (await login(http, owner.email, PASSWORD)).status_code == 429


# -- caps on what one request may create ------------------------------------------------


async def test_an_import_over_the_row_cap_is_refused_and_creates_nothing(
    settings: Settings,
) -> None:
    async with built_app(settings, MAX_IMPORT_ROWS=3) as app, http_from(app) as http:
        owner = await register_tenant(http)
        rows = "".join(f"Client {n},c{n}@example.com\n" for n in range(4))
        response = await http.post(
            "/api/v1/clients/import",
            headers=owner.headers,
            files={"file": ("clients.csv", f"name,email\n{rows}", "text/csv")},
        )
        assert response.status_code == 413, response.text
        assert "at most 3" in response.json()["detail"]
        assert await count_rows(app, "clients") == 0


DAILY = {"kind": "recurring", "rrule": "FREQ=DAILY;BYHOUR=9", "start": "2026-01-01T00:00:00Z"}


async def test_a_tag_reminder_over_the_client_cap_is_422_and_starts_nothing(
    settings: Settings,
) -> None:
    async with built_app(settings, REMINDER_MAX_CLIENTS=2) as app, http_from(app) as http:
        owner = await register_tenant(http)
        await add_tagged_clients(http, owner, "vat", 3)
        response = await http.post(
            "/api/v1/reminders", headers=owner.headers, json=document_request(DAILY, tag="VAT")
        )
        assert response.status_code == 422, response.text
        assert "REMINDER_MAX_CLIENTS" in response.json()["detail"]
        assert "3 clients" in response.json()["detail"]
        assert await count_rows(app, "reminders") == 0

        # Within the cap it passes validation; this app has no Temporal, hence 503.
        await add_tagged_clients(http, owner, "payroll", 2)
        within = await http.post(
            "/api/v1/reminders", headers=owner.headers, json=document_request(DAILY, tag="payroll")
        )
        assert within.status_code == 503, within.text


@pytest.mark.parametrize(
    "rrule",
    [
        "FREQ=MINUTELY",
        "FREQ=SECONDLY;INTERVAL=30",
        "FREQ=HOURLY;BYMINUTE=0,30",
        "FREQ=DAILY;BYHOUR=9;BYMINUTE=0,15",
    ],
)
async def test_a_recurrence_finer_than_the_minimum_is_422_naming_the_setting(
    client: httpx.AsyncClient, owner: Tenant, rrule: str
) -> None:
    schedule = {**DAILY, "rrule": rrule}
    await add_tagged_clients(client, owner, "vat", 1)
    response = await client.post(
        "/api/v1/reminders", headers=owner.headers, json=document_request(schedule, tag="vat")
    )
    assert response.status_code == 422, response.text
    assert "MIN_RECURRENCE_INTERVAL_MINUTES" in response.json()["detail"]


async def test_the_minimum_recurrence_interval_follows_its_setting(settings: Settings) -> None:
    async with built_app(settings, MIN_RECURRENCE_INTERVAL_MINUTES=180) as app:
        async with http_from(app) as http:
            owner = await register_tenant(http)
            await add_tagged_clients(http, owner, "vat", 1)

            async def create(rrule: str) -> httpx.Response:
                schedule = {**DAILY, "rrule": rrule}
                return await http.post(
                    "/api/v1/reminders",
                    headers=owner.headers,
                    json=document_request(schedule, tag="vat"),
                )

            for too_often in ("FREQ=HOURLY;INTERVAL=2", "FREQ=DAILY;BYHOUR=9,11"):
                refused = await create(too_often)
                assert refused.status_code == 422, (too_often, refused.text)
                assert "at least 180 minutes" in refused.json()["detail"]
            for rare_enough in ("FREQ=HOURLY;INTERVAL=3", "FREQ=DAILY;BYHOUR=9,17"):
                assert (await create(rare_enough)).status_code == 503, rare_enough
            assert await count_rows(app, "reminders") == 0


async def test_daily_recurrence_passes_validation(
    client: httpx.AsyncClient, owner: Tenant, app: Any
) -> None:
    await add_tagged_clients(client, owner, "vat", 1)
    for rrule in ("FREQ=DAILY;BYHOUR=9", "FREQ=HOURLY", "FREQ=WEEKLY;BYDAY=MO,FR"):
        response = await client.post(
            "/api/v1/reminders",
            headers=owner.headers,
            json=document_request({**DAILY, "rrule": rrule}, tag="vat"),
        )
        # Validation passed: only then is Temporal reached, and the test app has none.
        assert response.status_code == 503, (rrule, response.text)


async def test_a_list_limit_over_200_is_422(client: httpx.AsyncClient, owner: Tenant) -> None:
    for path in ("/api/v1/clients", "/api/v1/reminders", "/api/v1/notifications"):
        response = await client.get(path, params={"limit": 201}, headers=owner.headers)
        assert response.status_code == 422, (path, response.text)
        assert "limit" in response.json()["detail"]
        assert (
            await client.get(path, params={"limit": 200}, headers=owner.headers)
        ).status_code == 200
