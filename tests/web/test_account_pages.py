"""The dashboard's pages for people without a session, over HTTP: "Forgot password?"
(from the sign-in page to an emailed link to the reset page) and the invitation page
(a new member joins and is signed in). Emails go over SMTP to a local server."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest

from core.settings import Settings
from tests.builders.apps import login
from tests.builders.mail import MailApp, invitation_path_in, mail_app, reset_token_in
from tests.conftest import PASSWORD, Tenant, register_tenant

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
NEW_PASSWORD = "Clicked-The-Link-5"


def csrf(html: str) -> str:
    found = CSRF.search(html)
    assert found, "no csrf_token field on the page"
    return found.group(1)


@pytest.fixture
async def mailing(settings: Settings) -> AsyncIterator[MailApp]:
    async with mail_app(settings) as found:
        yield found


@pytest.fixture
async def acme(mailing: MailApp) -> Tenant:
    return await register_tenant(mailing.http, "Acme")


async def ask_for_link(http: httpx.AsyncClient, email: str) -> httpx.Response:
    page = await http.get("/admin/forgot-password")
    assert page.status_code == 200
    return await http.post(
        "/admin/forgot-password", data={"email": email, "csrf_token": csrf(page.text)}
    )


async def test_forgot_password_from_the_sign_in_page_to_a_new_password(
    mailing: MailApp, acme: Tenant
) -> None:
    http = mailing.http
    sign_in = await http.get("/admin/login")
    assert 'href="/admin/forgot-password"' in sign_in.text

    unknown = await ask_for_link(http, "nobody@acme.example.com")
    known = await ask_for_link(http, acme.email)
    assert unknown.status_code == known.status_code == 200
    assert "is on its way" in known.text
    assert known.text.replace(acme.email, "X") == unknown.text.replace(
        "nobody@acme.example.com", "X"
    )
    [email] = await mailing.smtp.wait_for(1)
    assert email.rcpt_tos == (acme.email,)
    token = reset_token_in(email)

    page = await http.get("/admin/reset-password")
    done = await http.post(
        "/admin/reset-password",
        data={
            "token": token,
            "password": NEW_PASSWORD,
            "confirm": NEW_PASSWORD,
            "csrf_token": csrf(page.text),
        },
    )
    assert done.status_code == 303, done.text
    assert (await login(http, acme.email, NEW_PASSWORD)).status_code == 200
    assert (await login(http, acme.email, PASSWORD)).status_code == 401


async def test_a_forgot_password_form_from_elsewhere_sends_nothing(
    mailing: MailApp, acme: Tenant
) -> None:
    await mailing.http.get("/admin/forgot-password")
    forged = await mailing.http.post(
        "/admin/forgot-password", data={"email": acme.email, "csrf_token": "forged"}
    )
    assert forged.status_code == 403
    bad = await ask_for_link(mailing.http, "not an email")
    assert bad.status_code == 422
    assert mailing.smtp.messages == []


async def invitation_path(mailing: MailApp, owner: Tenant, email: str) -> str:
    before = len(mailing.smtp.messages)
    made = await mailing.http.post(
        "/api/v1/business/invitations", headers=owner.headers, json={"email": email}
    )
    assert made.status_code == 201, made.text
    received = await mailing.smtp.wait_for(before + 1)
    return invitation_path_in(received[-1])


async def join(http: httpx.AsyncClient, path: str, **fields: str) -> httpx.Response:
    page = await http.get(path)
    assert page.status_code == 200, page.text
    data = {"full_name": "Nina New", "password": PASSWORD, "confirm": PASSWORD, **fields}
    return await http.post(path, data={**data, "csrf_token": csrf(page.text)})


async def test_the_invitation_page_makes_a_signed_in_member_once(
    mailing: MailApp, acme: Tenant
) -> None:
    http, email = mailing.http, f"nina-{uuid.uuid4().hex[:6]}@example.com"
    path = await invitation_path(mailing, acme, email)
    page = await http.get(path)
    assert page.status_code == 200
    assert "Acme Accounting" in page.text
    assert email in page.text
    assert page.headers["cache-control"] == "no-store"

    differ = await join(http, path, confirm="Other-Password-1")
    assert differ.status_code == 422
    assert "differ" in differ.text
    joined = await join(http, path)
    assert joined.status_code == 303, joined.text
    assert joined.headers["location"] == "/admin"
    overview = await http.get("/admin")
    assert overview.status_code == 200
    assert "Acme Accounting" in overview.text
    assert (await login(http, email, PASSWORD)).status_code == 200

    used = await http.get(path)
    assert used.status_code == 410
    assert "already accepted" in used.text
    assert used.headers["content-type"].startswith("text/html")


async def test_withdrawn_and_forged_invitation_pages_are_clear_errors(
    mailing: MailApp, acme: Tenant
) -> None:
    http = mailing.http
    path = await invitation_path(mailing, acme, f"gone-{uuid.uuid4().hex[:6]}@example.com")
    [row] = (await http.get("/api/v1/business/invitations", headers=acme.headers)).json()["items"]
    await http.delete(f"/api/v1/business/invitations/{row['id']}", headers=acme.headers)
    withdrawn = await http.get(path)
    assert withdrawn.status_code == 410
    assert "withdrawn" in withdrawn.text
    posted = await http.post(path, data={"password": PASSWORD, "csrf_token": "x"})
    assert posted.status_code == 410

    for forged in ("/admin/invitations/nope", "/admin/invitations/" + "z" * 400):
        response = await http.get(forged)
        assert response.status_code == 404
        assert "not valid" in response.text
