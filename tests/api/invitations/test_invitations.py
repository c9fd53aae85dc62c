"""Owners invite staff by email (over SMTP, to a local server); the emailed link, used
once, makes a member who can sign in and sees the business. Used, withdrawn, expired and
forged links are refused with a clear 4xx, never a 500."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from core.invitation_models import Invitation
from core.settings import Settings
from core.types import utcnow
from tests.builders.apps import login
from tests.builders.mail import MailApp, invitation_token_in, mail_app
from tests.conftest import (
    PASSWORD,
    Tenant,
    add_member,
    register_tenant,
    settings_changed,
    superuser_headers,
)

INVITATIONS = "/api/v1/business/invitations"
ACCEPT = "/api/v1/invitations/accept"


@pytest.fixture
async def mailing(settings: Settings) -> AsyncIterator[MailApp]:
    async with mail_app(settings) as found:
        yield found


@pytest.fixture
async def acme(mailing: MailApp) -> Tenant:
    return await register_tenant(mailing.http, "Acme")


def new_email() -> str:
    return f"invitee-{uuid.uuid4().hex[:8]}@example.com"


async def invite(mailing: MailApp, owner: Tenant, email: str, **body: Any) -> dict[str, Any]:
    response = await mailing.http.post(
        INVITATIONS, headers=owner.headers, json={"email": email, **body}
    )
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def invite_and_read_token(mailing: MailApp, owner: Tenant, email: str) -> str:
    before = len(mailing.smtp.messages)
    await invite(mailing, owner, email)
    received = await mailing.smtp.wait_for(before + 1)
    assert received[-1].rcpt_tos == (email,)
    return invitation_token_in(received[-1])


async def accept(http: httpx.AsyncClient, token: str, **body: Any) -> httpx.Response:
    payload = {"token": token, "full_name": "Nina New", "password": PASSWORD, **body}
    return await http.post(ACCEPT, json=payload)


async def test_the_emailed_link_makes_a_member_who_signs_in_and_sees_the_business(
    mailing: MailApp, acme: Tenant
) -> None:
    http, email = mailing.http, new_email()
    created = await invite(mailing, acme, email.upper())
    assert (created["email"], created["role"], created["email_sent"]) == (email, "member", True)
    [message] = await mailing.smtp.wait_for(1)
    assert message.rcpt_tos == (email,)
    assert "Acme Accounting" in message.text
    token = invitation_token_in(message)
    assert token not in str(created)
    pending = await http.get(INVITATIONS, headers=acme.headers)
    assert [row["email"] for row in pending.json()["items"]] == [email]
    assert token not in pending.text

    joined = await accept(http, token)
    assert joined.status_code == 201, joined.text
    assert joined.json()["business_id"] == acme.business_id
    assert joined.json()["user"]["role"] == "member"
    signed_in = await login(http, email, PASSWORD)
    assert signed_in.status_code == 200
    headers = {"Authorization": f"Bearer {signed_in.json()['access_token']}"}
    business = await http.get("/api/v1/business", headers=headers)
    assert business.json()["id"] == acme.business_id
    assert (await http.get(INVITATIONS, headers=acme.headers)).json()["total"] == 0

    again = await accept(http, token, full_name="Someone Else")
    assert again.status_code == 410
    assert "already accepted" in again.json()["detail"]
    events = await http.get(
        "/api/v1/events", headers=acme.headers, params={"action": "invitation."}
    )
    assert {e["action"] for e in events.json()["items"]} == {
        "invitation.created",
        "invitation.accepted",
    }


async def test_withdrawn_expired_and_forged_links_are_refused(
    mailing: MailApp, acme: Tenant
) -> None:
    http = mailing.http
    withdrawn = await invite_and_read_token(mailing, acme, new_email())
    [row] = (await http.get(INVITATIONS, headers=acme.headers)).json()["items"]
    revoked = await http.delete(f"{INVITATIONS}/{row['id']}", headers=acme.headers)
    assert revoked.status_code == 204
    refused = await accept(http, withdrawn)
    assert refused.status_code == 410
    assert "withdrawn" in refused.json()["detail"]

    expired = await invite_and_read_token(mailing, acme, new_email())
    async with mailing.app.state.sessionmaker() as session:
        await session.execute(
            update(Invitation)
            .where(Invitation.revoked_at.is_(None))
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
        await session.commit()
    late = await accept(http, expired)
    assert late.status_code == 410
    assert "expired" in late.json()["detail"]

    for forged in (expired[:-1] + ("A" if expired[-1] != "A" else "B"), "x" * 500, "nope"):
        response = await accept(http, forged)
        assert response.status_code in (404, 422), response.text
        assert response.json()["detail"]
    events = await http.get(
        "/api/v1/events", headers=acme.headers, params={"action": "invitation."}
    )
    assert "invitation.revoked" in {e["action"] for e in events.json()["items"]}


async def test_only_owners_invite_and_only_their_own_invitations(
    mailing: MailApp, acme: Tenant
) -> None:
    http = mailing.http
    member = await add_member(http, acme)
    refused = await http.post(INVITATIONS, headers=member.headers, json={"email": new_email()})
    assert refused.status_code == 403
    assert (await http.get(INVITATIONS, headers=member.headers)).status_code == 403

    created = await invite(mailing, acme, new_email())
    rival = await register_tenant(http, "Rival")
    theirs = await http.delete(f"{INVITATIONS}/{created['id']}", headers=rival.headers)
    assert theirs.status_code == 404
    missing = await http.delete(f"{INVITATIONS}/{uuid.uuid4()}", headers=rival.headers)
    assert missing.json() == theirs.json()
    assert (await http.get(INVITATIONS, headers=rival.headers)).json()["total"] == 0
    assert (await http.get(INVITATIONS, headers=acme.headers)).json()["total"] == 1


async def test_staff_pending_duplicates_and_the_cap_conflict(
    mailing: MailApp, acme: Tenant
) -> None:
    http = mailing.http
    member = await add_member(http, acme)
    for email in (acme.email, member.email):
        taken = await http.post(INVITATIONS, headers=acme.headers, json={"email": email})
        assert taken.status_code == 409
    elsewhere = await register_tenant(http, "Rival")
    other = await http.post(INVITATIONS, headers=acme.headers, json={"email": elsewhere.email})
    assert other.status_code == 409

    email = new_email()
    await invite(mailing, acme, email)
    twice = await http.post(INVITATIONS, headers=acme.headers, json={"email": email})
    assert twice.status_code == 409
    with settings_changed(mailing.app, INVITATIONS_MAX_PENDING=2):
        await invite(mailing, acme, new_email())
        capped = await http.post(INVITATIONS, headers=acme.headers, json={"email": new_email()})
        assert capped.status_code == 409
        assert "INVITATIONS_MAX_PENDING" in capped.json()["detail"]


async def test_an_account_without_a_business_joins_with_its_own_password(
    mailing: MailApp, acme: Tenant
) -> None:
    http, email = mailing.http, new_email()
    root = await superuser_headers(mailing.app, http)
    made = await http.post(
        "/api/v1/admin/users",
        headers=root,
        json={"email": email, "full_name": "Free Agent", "password": PASSWORD},
    )
    assert made.status_code == 201, made.text
    token = await invite_and_read_token(mailing, acme, email)

    wrong = await accept(http, token, password="Not-The-Password-1")
    assert wrong.status_code == 401  # checked as a sign-in is, within its limits
    joined = await accept(http, token, full_name=None)
    assert joined.status_code == 201, joined.text
    assert joined.json()["user"]["id"] == made.json()["id"]
    assert joined.json()["user"]["full_name"] == "Free Agent"
    assert joined.json()["business_id"] == acme.business_id


async def test_an_owner_invitation_makes_an_owner(mailing: MailApp, acme: Tenant) -> None:
    email = new_email()
    await invite(mailing, acme, email, role="owner")
    [message] = await mailing.smtp.wait_for(1)
    joined = await accept(mailing.http, invitation_token_in(message))
    assert joined.json()["user"]["role"] == "owner"


async def test_guessing_an_existing_accounts_password_meets_the_sign_in_limit(
    mailing: MailApp, acme: Tenant, settings: Settings
) -> None:
    http, email = mailing.http, new_email()
    root = await superuser_headers(mailing.app, http)
    body = {"email": email, "full_name": "Free Agent", "password": PASSWORD}
    assert (await http.post("/api/v1/admin/users", headers=root, json=body)).status_code == 201
    token = await invite_and_read_token(mailing, acme, email)
    for n in range(settings.LOGIN_MAX_FAILURES_PER_ACCOUNT):
        wrong = await accept(http, token, password=f"Guess-Number-{n}")
        assert wrong.status_code == 401
    right = await accept(http, token)
    assert right.status_code == 429
    assert (await http.get(INVITATIONS, headers=acme.headers)).json()["total"] == 1
