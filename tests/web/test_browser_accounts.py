"""In a real browser (Debian's Chromium): "Forgot password?" from the sign-in page to the
emailed link's page and a new password, and joining a business from an invitation email.
The app is served over HTTP and sends its email over SMTP to a local server."""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit

import pytest

from core.settings import Settings
from tests.builders.mail import MailApp, invitation_path_in, link_in, mail_app
from tests.conftest import PASSWORD, register_tenant
from tests.web.conftest import WIDE, served

try:
    from playwright.async_api import Page, expect
except ImportError:  # pragma: no cover - the dev extra installs it
    if os.environ.get("REQUIRE_BROWSER") == "1":
        raise
    pytest.skip("playwright is not installed (pip install -e '.[dev]')", allow_module_level=True)

OVERVIEW_URL = re.compile(r"/admin/?(\?.*)?$")
LOGIN_URL = re.compile(r"/admin/login")
NEW_PASSWORD = "Chosen-By-Email-6"


@pytest.fixture
async def mailing(settings: Settings) -> AsyncIterator[MailApp]:
    async with mail_app(settings) as found:
        yield found


@pytest.fixture
async def mail_page(browser: Any, mailing: MailApp) -> AsyncIterator[Page]:
    """A page of a fresh browser context on the mailing app, served over HTTP."""
    async with served(mailing.app) as url:
        context = await browser.new_context(base_url=url, viewport=WIDE)
        context.set_default_timeout(10_000)
        try:
            yield await context.new_page()
        finally:
            await context.close()


async def sign_in(page: Page, email: str, password: str) -> None:
    await page.goto("/admin/login")
    form = page.locator("form#login-form")
    await form.get_by_label("Email", exact=True).fill(email)
    await form.get_by_label("Password", exact=True).fill(password)
    await form.get_by_role("button", name="Sign in").click()


async def test_forgot_password_link_email_and_new_password_in_a_browser(
    mail_page: Page, mailing: MailApp
) -> None:
    page = mail_page
    owner = await register_tenant(mailing.http, "Forgetful")
    await page.goto("/admin/login")
    await page.get_by_role("link", name="Forgot password?").click()
    await page.get_by_label("Email").fill(owner.email)
    await page.get_by_role("button", name="Send me a link").click()
    await expect(page.get_by_role("status")).to_contain_text("is on its way")

    [email] = await mailing.smtp.wait_for(1)
    link = urlsplit(link_in(email))
    await page.goto(f"{link.path}#{link.fragment}")
    await expect(page).to_have_url(re.compile(r"/admin/reset-password$"))
    await page.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
    await page.get_by_label("New password again").fill(NEW_PASSWORD)
    await page.get_by_role("button", name="Set the password").click()
    await expect(page).to_have_url(LOGIN_URL)

    await sign_in(page, owner.email, PASSWORD)
    await expect(page.get_by_role("alert")).to_contain_text("Incorrect")
    await sign_in(page, owner.email, NEW_PASSWORD)
    await expect(page).to_have_url(OVERVIEW_URL)


async def test_an_invitee_joins_from_the_emailed_link_in_a_browser(
    mail_page: Page, mailing: MailApp
) -> None:
    page = mail_page
    owner = await register_tenant(mailing.http, "Inviting")
    email = f"nina-{uuid.uuid4().hex[:6]}@example.com"
    made = await mailing.http.post(
        "/api/v1/business/invitations", headers=owner.headers, json={"email": email}
    )
    assert made.status_code == 201, made.text
    [message] = await mailing.smtp.wait_for(1)

    await page.goto(invitation_path_in(message))
    await expect(page.get_by_role("heading", name="Join Inviting Accounting")).to_be_visible()
    await page.get_by_label("Your name").fill("Nina New")
    await page.get_by_label("Choose a password").fill(PASSWORD)
    await page.get_by_label("The password again").fill(PASSWORD)
    await page.get_by_role("button", name="Join").click()
    await expect(page).to_have_url(OVERVIEW_URL)
    await expect(page.locator(".business-name")).to_have_text("Inviting Accounting")
