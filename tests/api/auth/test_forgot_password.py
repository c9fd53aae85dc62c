"""Forgot password: a real account gets an email (over SMTP, to a local server) whose link
sets a new password once; an unknown email gets the same answer and no email; requests
are limited per address and per email."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import httpx
import pytest

from core.settings import Settings
from tests.builders.apps import http_from, login, new_ip, retry_after
from tests.builders.mail import MailApp, mail_app, reset_token_in
from tests.conftest import PASSWORD, Tenant, register_tenant, superuser_headers

FORGOT = "/api/v1/auth/forgot-password"
RESET = "/api/v1/auth/password-reset"
NEW_PASSWORD = "Remembered-Now-9"


@pytest.fixture
async def mailing(settings: Settings) -> AsyncIterator[MailApp]:
    async with mail_app(settings) as found:
        yield found


@pytest.fixture
async def acme(mailing: MailApp) -> Tenant:
    return await register_tenant(mailing.http, "Acme")


async def test_the_emailed_link_sets_a_new_password_once(mailing: MailApp, acme: Tenant) -> None:
    http, smtp = mailing.http, mailing.smtp
    asked = await http.post(FORGOT, json={"email": acme.email.upper()})
    assert asked.status_code == 202, asked.text

    [email] = await smtp.wait_for(1)
    assert email.rcpt_tos == (acme.email,)
    token = reset_token_in(email)
    assert token not in asked.text

    reset = await http.post(RESET, json={"token": token, "password": NEW_PASSWORD})
    assert reset.status_code == 204, reset.text
    assert (await login(http, acme.email, PASSWORD)).status_code == 401
    assert (await login(http, acme.email, NEW_PASSWORD)).status_code == 200
    again = await http.post(RESET, json={"token": token, "password": "Another-Pass-77"})
    assert again.status_code == 400
    assert (await login(http, acme.email, NEW_PASSWORD)).status_code == 200

    events = await http.get(
        "/api/v1/events",
        headers=await _headers(http, acme.email, NEW_PASSWORD),
        params={"action": "auth.password_reset_requested"},
    )
    [event] = events.json()["items"]
    assert event["subject_id"] == acme.user_id
    assert token not in events.text


async def _headers(http: httpx.AsyncClient, email: str, password: str) -> dict[str, str]:
    token = (await login(http, email, password)).json()["access_token"]
    return {"Authorization": f"Bearer {token}"}


async def test_an_unknown_email_gets_the_same_answer_and_no_email(
    mailing: MailApp, acme: Tenant
) -> None:
    http, smtp = mailing.http, mailing.smtp
    unknown = await http.post(FORGOT, json={"email": f"nobody-{uuid.uuid4().hex[:6]}@acme.example"})
    known = await http.post(FORGOT, json={"email": acme.email})

    assert unknown.status_code == known.status_code == 202
    assert unknown.json() == known.json()
    assert set(unknown.headers) - {"x-request-id", "date"} == set(known.headers) - {
        "x-request-id",
        "date",
    }
    # The unknown email's request came first: had it sent anything, it would be here.
    received = await smtp.wait_for(1)
    assert [m.rcpt_tos for m in received] == [(acme.email,)]
    assert len(smtp.messages) == 1


async def test_a_deactivated_account_gets_no_link(mailing: MailApp, acme: Tenant) -> None:
    root = await superuser_headers(mailing.app, mailing.http)
    off = await mailing.http.patch(
        f"/api/v1/admin/users/{acme.user_id}", headers=root, json={"is_active": False}
    )
    assert off.status_code == 200, off.text
    asked = await mailing.http.post(FORGOT, json={"email": acme.email})
    assert asked.status_code == 202
    other = await register_tenant(mailing.http, "Rival")
    await mailing.http.post(FORGOT, json={"email": other.email})
    received = await mailing.smtp.wait_for(1)
    assert [m.rcpt_tos for m in received] == [(other.email,)]


async def test_requests_are_limited_per_email_and_per_address(settings: Settings) -> None:
    async with mail_app(
        settings, FORGOT_PASSWORD_PER_EMAIL="2/hour", FORGOT_PASSWORD_PER_IP="4/hour"
    ) as mailing:
        ip = new_ip()
        async with http_from(mailing.app, ip) as http:
            email = f"someone-{uuid.uuid4().hex[:6]}@example.com"
            for _ in range(2):
                assert (await http.post(FORGOT, json={"email": email})).status_code == 202
            third = await http.post(FORGOT, json={"email": email})
            assert third.status_code == 429, third.text
            retry_after(third)
            # Every request counts for the address, refused ones too: a fourth is allowed
            # for another email...
            other = f"other-{uuid.uuid4().hex[:6]}@example.com"
            assert (await http.post(FORGOT, json={"email": other})).status_code == 202
            # ... and the address's fifth is not, whatever the email.
            fourth = await http.post(FORGOT, json={"email": f"x{uuid.uuid4().hex[:6]}@e.com"})
            assert fourth.status_code == 429
        async with http_from(mailing.app, new_ip()) as elsewhere:
            # The first email's limit holds from any address.
            assert (await elsewhere.post(FORGOT, json={"email": email})).status_code == 429


async def test_bad_input_is_a_422(mailing: MailApp) -> None:
    for body in ({}, {"email": "not-an-email"}, {"email": "a@b.com", "extra": 1}):
        response = await mailing.http.post(FORGOT, json=body)
        assert response.status_code == 422, body
        assert response.json()["detail"]
