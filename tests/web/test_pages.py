"""The web dashboard over HTTP, without a browser: sign-in, CSRF, scoping, headers.

The browser tests (test_browser.py) drive the same pages in Chromium; these check what a
browser would not show: the cookies' flags, the refusals, the headers.
"""

from __future__ import annotations

import re
import sys
import uuid
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from core.models import User
from tests.conftest import PASSWORD, Tenant, add_superuser, register_tenant, superuser_headers
from tests.seed import Seeded, add_reminder

LOGIN_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def _csrf(html: str) -> str:
    found = LOGIN_CSRF.search(html)
    assert found, "no csrf_token field on the page"
    return found.group(1)


async def sign_in(http: httpx.AsyncClient, email: str, password: str = PASSWORD) -> httpx.Response:
    page = await http.get("/admin/login")
    assert page.status_code == 200
    return await http.post(
        "/admin/login",
        data={"email": email, "password": password, "csrf_token": _csrf(page.text)},
    )


@pytest.fixture
async def browser_like(app: Any) -> Any:
    """A cookie-keeping client, like a browser tab, on the app."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        yield http


async def _reminder(http: httpx.AsyncClient, tenant: Tenant, app: Any) -> str:
    """A reminder row of the tenant's for one new client (no workflow: none is needed)."""
    client = await http.post(
        "/api/v1/clients",
        headers=tenant.headers,
        json={"name": "Bob Builder", "email": "bob@example.com"},
    )
    assert client.status_code == 201, client.text
    seed = Seeded(
        app.state.sessionmaker, uuid.UUID(tenant.business_id), uuid.UUID(client.json()["id"])
    )
    row = await add_reminder(
        seed,
        {"kind": "once", "at": "2099-01-01T09:00:00+00:00"},
        body="Hi {{ client.name }}",
        title="Q3 VAT return",
        status="scheduled",
    )
    return str(row.id)


async def test_anonymous_pages_redirect_to_the_login_form(browser_like: httpx.AsyncClient) -> None:
    for path in ("/admin", "/admin/reminders", "/admin/clients", "/admin/deliveries"):
        response = await browser_like.get(path)
        assert response.status_code == 303, path
        assert response.headers["location"].startswith("/admin/login?next=")
    refused = await browser_like.post(f"/admin/reminders/{uuid.uuid4()}/trigger")
    assert refused.status_code == 303
    assert refused.headers["location"] == "/admin/login?next=%2Fadmin"


async def test_sign_in_sets_a_locked_down_session_cookie_and_opens_the_overview(
    browser_like: httpx.AsyncClient, owner: Tenant
) -> None:
    response = await sign_in(browser_like, owner.email)
    assert response.status_code == 303
    assert response.headers["location"] == "/admin"
    cookie = next(
        value
        for name, value in response.headers.multi_items()
        if name == "set-cookie" and value.startswith("reminders_session=")
    )
    assert "HttpOnly" in cookie
    assert "samesite=lax" in cookie.lower()
    assert "Path=/admin" in cookie
    overview = await browser_like.get("/admin")
    assert overview.status_code == 200
    assert "<h1>Overview</h1>" in overview.text
    assert "Acme Accounting" in overview.text


async def test_wrong_password_shows_the_form_again_with_401(
    browser_like: httpx.AsyncClient, owner: Tenant
) -> None:
    response = await sign_in(browser_like, owner.email, "not-the-password-1")
    assert response.status_code == 401
    assert "Incorrect email or password" in response.text
    assert 'id="login-form"' in response.text
    assert (await browser_like.get("/admin")).status_code == 303


async def test_login_without_the_forms_csrf_value_is_refused(
    browser_like: httpx.AsyncClient, owner: Tenant
) -> None:
    await browser_like.get("/admin/login")
    response = await browser_like.post(
        "/admin/login",
        data={"email": owner.email, "password": PASSWORD, "csrf_token": "forged"},
    )
    assert response.status_code == 403
    assert (await browser_like.get("/admin")).status_code == 303


async def test_a_post_without_the_sessions_csrf_token_changes_nothing(
    browser_like: httpx.AsyncClient, owner: Tenant, app: Any
) -> None:
    reminder_id = await _reminder(browser_like, owner, app)
    await sign_in(browser_like, owner.email)
    for token in ("", "0" * 64):
        response = await browser_like.post(
            f"/admin/reminders/{reminder_id}/pause", data={"csrf_token": token}
        )
        assert response.status_code == 403
    page = await browser_like.get(f"/admin/reminders/{reminder_id}")
    assert 'class="status status-scheduled"' in page.text


async def test_a_post_from_another_origin_is_refused_even_with_a_token(
    browser_like: httpx.AsyncClient, owner: Tenant, app: Any
) -> None:
    reminder_id = await _reminder(browser_like, owner, app)
    await sign_in(browser_like, owner.email)
    page = await browser_like.get(f"/admin/reminders/{reminder_id}")
    response = await browser_like.post(
        f"/admin/reminders/{reminder_id}/pause",
        data={"csrf_token": _csrf(page.text)},
        headers={"Origin": "https://evil.example"},
    )
    assert response.status_code == 403


async def test_another_business_reminder_page_is_404(
    browser_like: httpx.AsyncClient, owner: Tenant, other_owner: Tenant, app: Any
) -> None:
    theirs = await _reminder(browser_like, other_owner, app)
    await sign_in(browser_like, owner.email)
    for path in (f"/admin/reminders/{theirs}", f"/admin/reminders/{theirs}/deliveries"):
        response = await browser_like.get(path)
        assert response.status_code == 404, path
        assert "Q3 VAT return" not in response.text
    response = await browser_like.get("/admin/reminders/not-a-uuid")
    assert response.status_code == 404


async def test_pages_carry_a_strict_content_security_policy(
    browser_like: httpx.AsyncClient, owner: Tenant
) -> None:
    await sign_in(browser_like, owner.email)
    for path in ("/admin/login", "/admin", "/admin/reminders", "/admin/clients"):
        response = await browser_like.get(path, follow_redirects=True)
        csp = response.headers["content-security-policy"]
        assert "script-src 'self'" in csp
        assert "unsafe-inline" not in csp
        assert "frame-ancestors 'none'" in csp
        assert response.headers["cache-control"] == "no-store"
        # Every script the page loads is served by the app itself: no CDN.
        for src in re.findall(r'<script[^>]+src="([^"]+)"', response.text):
            assert src.startswith("/admin/static/"), src
            assert (await browser_like.get(src)).status_code == 200


async def test_sign_out_ends_the_session(browser_like: httpx.AsyncClient, owner: Tenant) -> None:
    await sign_in(browser_like, owner.email)
    page = await browser_like.get("/admin")
    response = await browser_like.post("/admin/logout", data={"csrf_token": _csrf(page.text)})
    assert response.status_code == 303
    assert (await browser_like.get("/admin")).status_code == 303


async def test_a_tampered_session_cookie_is_not_a_session(
    browser_like: httpx.AsyncClient, owner: Tenant
) -> None:
    await sign_in(browser_like, owner.email)
    token = browser_like.cookies["reminders_session"]
    header, payload, signature = token.split(".")
    browser_like.cookies.set(
        "reminders_session", f"{header}.{payload}.{signature[:-4]}AAAA", path="/admin"
    )
    assert (await browser_like.get("/admin")).status_code == 303


async def test_the_login_page_never_redirects_off_site(
    browser_like: httpx.AsyncClient, owner: Tenant
) -> None:
    page = await browser_like.get("/admin/login", params={"next": "//evil.example/admin"})
    response = await browser_like.post(
        "/admin/login",
        data={
            "email": owner.email,
            "password": PASSWORD,
            "csrf_token": _csrf(page.text),
            "next": "//evil.example/admin",
        },
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/admin"


async def test_superuser_sees_every_business_and_can_switch_to_one(
    browser_like: httpx.AsyncClient, client: httpx.AsyncClient, app: Any
) -> None:
    acme = await register_tenant(client, "Acme")
    rival = await register_tenant(client, "Rival")
    await _reminder(client, acme, app)
    await sign_in(browser_like, await add_superuser(app))
    overview = await browser_like.get("/admin")
    assert "All businesses" in overview.text
    assert "Acme Accounting" in overview.text
    assert "Rival Accounting" in overview.text
    everything = await browser_like.get("/admin/reminders")
    assert "Q3 VAT return" in everything.text
    switched = await browser_like.post(
        "/admin/scope",
        data={
            "csrf_token": _csrf(overview.text),
            "business": rival.business_id,
            "next": "/admin/reminders",
        },
    )
    assert switched.status_code == 303
    assert switched.headers["location"] == "/admin/reminders"
    rival_only = await browser_like.get("/admin/reminders")
    assert "Q3 VAT return" not in rival_only.text


async def test_a_business_user_cannot_switch_business(
    browser_like: httpx.AsyncClient, owner: Tenant, other_owner: Tenant
) -> None:
    await sign_in(browser_like, owner.email)
    page = await browser_like.get("/admin")
    response = await browser_like.post(
        "/admin/scope", data={"csrf_token": _csrf(page.text), "business": other_owner.business_id}
    )
    assert response.status_code == 403
    assert "Rival Accounting" not in (await browser_like.get("/admin")).text


async def test_over_https_the_session_cookie_is_secure(settings: Any, owner: Tenant) -> None:
    from api.main import create_app

    app = create_app(settings.model_copy(update={"FORCE_HTTPS": True}))
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="https://test") as http:
            response = await sign_in(http, owner.email)
        assert response.status_code == 303
        cookie = next(
            value
            for name, value in response.headers.multi_items()
            if name == "set-cookie" and value.startswith("reminders_session=")
        )
        assert "Secure" in cookie
        assert "HttpOnly" in cookie
    finally:
        await app.state.engine.dispose()


async def test_changing_the_password_ends_dashboard_sessions(
    browser_like: httpx.AsyncClient, client: httpx.AsyncClient, owner: Tenant
) -> None:
    await sign_in(browser_like, owner.email)
    assert (await browser_like.get("/admin")).status_code == 200
    changed = await client.patch(
        "/api/v1/users/me",
        headers=owner.headers,
        json={"current_password": PASSWORD, "password": "Brand-New-Pass-8"},
    )
    assert changed.status_code == 200, changed.text
    assert (await browser_like.get("/admin")).status_code == 303


async def test_a_deactivated_user_is_signed_out_of_the_dashboard(
    browser_like: httpx.AsyncClient, owner: Tenant, app: Any
) -> None:
    await sign_in(browser_like, owner.email)
    assert (await browser_like.get("/admin")).status_code == 200
    async with app.state.sessionmaker() as session:
        user = await session.get(User, uuid.UUID(owner.user_id))
        assert user is not None
        user.is_active = False
        await session.commit()
    assert (await browser_like.get("/admin")).status_code == 303


def _cells(html: str, row_marker: str) -> dict[str, str]:
    """The usage table's cells (`data-channel` -> text) in the row after `row_marker`."""
    row = html[html.index(row_marker) :]
    row = row[: row.index("</tr>")]
    return dict(re.findall(r'<td data-channel="([a-z-]+)">([^<]*)</td>', row))


async def test_the_usage_page_shows_the_months_messages_per_channel(
    browser_like: httpx.AsyncClient, client: httpx.AsyncClient, app: Any
) -> None:
    from tests.builders.rows import JULY, add_reminder_row, add_sent

    acme = await register_tenant(client, "Acme")
    rival = await register_tenant(client, "Rival")
    reminder = await add_reminder_row(app, acme)
    await add_sent(app, acme, reminder)
    await add_sent(app, acme, reminder, channel="sms", segments=2)
    await add_sent(app, acme, reminder, channel="sms", segments=1, status="undelivered")
    await add_sent(app, acme, reminder, channel="sms", status="failed", accepted=False)
    await add_sent(app, acme, reminder, at=JULY.replace(month=8))  # another month
    await add_sent(app, rival, await add_reminder_row(app, rival), channel="whatsapp")

    await sign_in(browser_like, acme.email)
    page = await browser_like.get("/admin/usage", params={"month": "2026-07"})
    assert page.status_code == 200
    assert '<a href="/admin/usage" aria-current="page">Usage</a>' in page.text
    assert 'value="2026-07"' in page.text
    assert _cells(page.text, "<tbody>") == {
        "email": "1",
        "sms": "2",
        "sms-segments": "3",
        "whatsapp": "0",
        "total": "3",
    }
    assert "Rival Accounting" not in page.text
    bad = await browser_like.get("/admin/usage", params={"month": "2026-13"})
    assert bad.status_code == 422
    assert "YYYY-MM" in bad.text

    await browser_like.post("/admin/logout", data={"csrf_token": _csrf(page.text)})
    await sign_in(browser_like, await add_superuser(app))
    everyone = await browser_like.get("/admin/usage", params={"month": "2026-07"})
    assert everyone.status_code == 200
    acme_row = _cells(everyone.text, f'data-business-id="{acme.business_id}"')
    rival_row = _cells(everyone.text, f'data-business-id="{rival.business_id}"')
    assert acme_row["sms-segments"] == "3"
    assert acme_row["total"] == "3"
    assert rival_row["whatsapp"] == "1"
    assert rival_row["total"] == "1"


# -- choosing a new password with a reset link ------------------------------------------

NEW_PASSWORD = "Fresh-Start-Pass-4"


async def _reset_code(app: Any, http: httpx.AsyncClient, user_id: str) -> str:
    """A reset link a superuser issued for the user; its code (from the URL fragment)."""
    root = await superuser_headers(app, http)
    issued = await http.post(f"/api/v1/admin/users/{user_id}/password-reset", headers=root)
    assert issued.status_code == 200, issued.text
    link = urlsplit(issued.json()["reset_url"])
    assert link.path == "/admin/reset-password"
    return parse_qs(link.fragment)["token"][0]


async def _logs_in(http: httpx.AsyncClient, email: str, password: str) -> bool:
    response = await http.post("/api/v1/auth/token", data={"username": email, "password": password})
    return response.status_code == 200


async def _submit_reset(
    http: httpx.AsyncClient, token: str, password: str, confirm: str | None = None
) -> httpx.Response:
    page = await http.get("/admin/reset-password")
    assert page.status_code == 200
    return await http.post(
        "/admin/reset-password",
        data={
            "token": token,
            "password": password,
            "confirm": password if confirm is None else confirm,
            "csrf_token": _csrf(page.text),
        },
    )


async def test_a_reset_link_sets_a_new_password_once_from_the_page(
    app: Any, browser_like: httpx.AsyncClient, client: httpx.AsyncClient, owner: Tenant
) -> None:
    token = await _reset_code(app, client, owner.user_id)
    page = await browser_like.get("/admin/reset-password")
    assert "Content-Security-Policy" in page.headers
    assert 'id="reset-token"' in page.text

    done = await _submit_reset(browser_like, token, NEW_PASSWORD)
    assert done.status_code == 303
    assert done.headers["location"] == "/admin/login?reset=1"
    notice = await browser_like.get("/admin/login?reset=1")
    assert "Your password was changed" in notice.text
    assert await _logs_in(client, owner.email, NEW_PASSWORD)
    assert not await _logs_in(client, owner.email, PASSWORD)

    again = await _submit_reset(browser_like, token, "Another-Pass-9")
    assert again.status_code == 400
    assert "already used" in again.text
    assert await _logs_in(client, owner.email, NEW_PASSWORD)


@pytest.mark.parametrize(
    ("password", "confirm", "status", "says"),
    [
        (NEW_PASSWORD, "Something-Else-7", 422, "The two passwords differ"),
        ("short", "short", 422, "at least"),
    ],
)
async def test_a_bad_new_password_keeps_the_old_one_and_the_link(
    app: Any,
    browser_like: httpx.AsyncClient,
    client: httpx.AsyncClient,
    owner: Tenant,
    password: str,
    confirm: str,
    status: int,
    says: str,
) -> None:
    token = await _reset_code(app, client, owner.user_id)
    refused = await _submit_reset(browser_like, token, password, confirm)
    assert refused.status_code == status
    assert says in refused.text
    assert token in refused.text  # the code stays in the form for the next try
    assert await _logs_in(client, owner.email, PASSWORD)
    assert (await _submit_reset(browser_like, token, NEW_PASSWORD)).status_code == 303


async def test_a_reset_without_the_forms_csrf_value_or_with_a_forged_code_changes_nothing(
    app: Any, browser_like: httpx.AsyncClient, client: httpx.AsyncClient, owner: Tenant
) -> None:
    token = await _reset_code(app, client, owner.user_id)
    await browser_like.get("/admin/reset-password")
    forged = await browser_like.post(
        "/admin/reset-password",
        data={"token": token, "password": NEW_PASSWORD, "confirm": NEW_PASSWORD},
    )
    assert forged.status_code == 403
    tampered = await _submit_reset(browser_like, token[:-4] + "AAAA", NEW_PASSWORD)
    assert tampered.status_code == 400
    assert "Password reset failed" in tampered.text
    assert await _logs_in(client, owner.email, PASSWORD)


async def test_past_a_capped_count_the_pager_still_offers_the_next_page(
    browser_like: httpx.AsyncClient, owner: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Counting stops at COUNT_CAP; a full page beyond it may still have more after it."""
    from core.repositories import base

    # api.web re-exports its APIRouter as `router`, hiding the module of that name.
    web_router = sys.modules["api.web.router"]

    for n in range(5):
        added = await browser_like.post(
            "/api/v1/clients", headers=owner.headers, json={"name": f"Client {n}"}
        )
        assert added.status_code == 201, added.text
    monkeypatch.setattr(web_router, "PAGE_SIZE", 2)
    monkeypatch.setattr(base, "COUNT_CAP", 3)
    await sign_in(browser_like, owner.email)
    beyond = await browser_like.get("/admin/clients", params={"offset": 2})
    assert "2 of 3+" in beyond.text
    assert 'rel="next"' in beyond.text
    last = await browser_like.get("/admin/clients", params={"offset": 4})
    assert "1 of 3+" in last.text
    assert 'rel="next"' not in last.text
