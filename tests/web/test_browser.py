"""The /admin dashboard in a real browser (Debian's Chromium, headless) against the app
served over HTTP with a Temporal dev server and a worker: what a person sees and does."""

from __future__ import annotations

import json
import os
import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import httpx
import pytest

from core.done_links import DONE_PATH, DoneLink, make_done_token
from tests.conftest import register_tenant, superuser_headers
from tests.web.conftest import (
    NARROW,
    ContextFactory,
    SeededBusiness,
    Superuser,
    narrow_page,
    snap,
)

try:
    from playwright.async_api import Page, expect
except ImportError:  # pragma: no cover - the dev extra installs it
    if os.environ.get("REQUIRE_BROWSER") == "1":
        raise
    pytest.skip("playwright is not installed (pip install -e '.[dev]')", allow_module_level=True)

expect.set_options(timeout=10_000)

OVERVIEW_URL = re.compile(r"/admin/?(\?.*)?$")
LOGIN_URL = re.compile(r"/admin/login")
KPI_LABELS = {"Deliveries", "Delivery rate", "Failures (24 h)", "Due in 24 h", "Due in 7 days"}


async def sign_in(page: Page, email: str, password: str) -> None:
    await page.goto("/admin/login")
    form = page.locator("form#login-form")
    await form.get_by_label("Email", exact=True).fill(email)
    await form.get_by_label("Password", exact=True).fill(password)
    await form.get_by_role("button", name="Sign in").click()
    await expect(page).to_have_url(OVERVIEW_URL)


async def go_to(page: Page, link: str) -> None:
    """Follow a link of the main navigation."""
    await page.locator("nav#main-nav").get_by_role("link", name=link, exact=True).click()


def reminder_row(page: Page, reminder_id: str) -> Any:
    return page.locator(f'table#reminders tbody tr[data-reminder-id="{reminder_id}"]')


def day_pattern(day: datetime) -> re.Pattern[str]:
    """A table cell naming the day as 2026-11-30, 30 Nov or Nov 30 (not 2026-11-301)."""
    forms = "|".join([day.date().isoformat(), f"{day.day} {day:%b}", f"{day:%b} {day.day}"])
    # Matched in the browser (a JS regex): no re.escape, whose escaped "-" it refuses.
    return re.compile(rf"(^|[^0-9])({forms})($|[^0-9])")


async def tab_until(page: Page, condition: str, what: str, limit: int = 40) -> None:
    """Press Tab until `condition` (a JS expression on `el`, the focused element) holds."""
    for _ in range(limit):
        await page.keyboard.press("Tab")
        if await page.evaluate(
            f"(() => {{ const el = document.activeElement; return !!({condition}); }})()"
        ):
            return
    pytest.fail(f"{what} never took the focus within {limit} presses of Tab")


FOCUS_IS_VISIBLE = """(() => {
    const el = document.activeElement;
    const style = getComputedStyle(el);
    const outline = style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) > 0;
    return el.matches(':focus-visible') && (outline || style.boxShadow !== 'none');
})()"""


# Every page load records what its Content-Security-Policy blocked (nothing, we expect).
RECORD_CSP_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener('securitypolicyviolation', (e) => {
    window.__cspViolations.push(e.violatedDirective + ' ' + e.blockedURI);
});
"""


# -- the harness ---------------------------------------------------------------------------


async def test_smoke_chromium_reaches_the_live_server(page: Page, live_server: str) -> None:
    assert live_server.startswith("http://127.0.0.1:")
    response = await page.goto("/healthz")
    assert response is not None
    assert response.status == 200
    assert json.loads(await page.locator("body").inner_text()) == {"status": "ok"}


# -- signing in and the overview -----------------------------------------------------------


async def test_owner_signs_in_and_the_overview_counts_todays_delivery(
    page: Page, acme: SeededBusiness
) -> None:
    await page.goto("/admin/login")
    form = page.locator("form#login-form")
    await expect(form.locator('input[name="csrf_token"]')).to_have_attribute("type", "hidden")
    await expect(form.get_by_label("Password", exact=True)).to_have_attribute("type", "password")
    await snap(page, "login.png")

    # A wrong password: the alert, a 401, still on the login page, not signed in.
    await form.get_by_label("Email", exact=True).fill(acme.email)
    await form.get_by_label("Password", exact=True).fill("Wrong-Horse-8")
    async with page.expect_response(
        lambda r: r.request.method == "POST" and "/admin/login" in r.url
    ) as answer:
        await form.get_by_role("button", name="Sign in").click()
    assert (await answer.value).status == 401
    alert = page.locator(".error[role=alert]")
    await expect(alert).to_contain_text("Incorrect email or password")
    await expect(page).to_have_url(LOGIN_URL)
    cookies = {c["name"] for c in await page.context.cookies()}
    assert "reminders_session" not in cookies

    await page.add_init_script(RECORD_CSP_VIOLATIONS)
    await sign_in(page, acme.email, acme.password)
    session = [c for c in await page.context.cookies() if c["name"] == "reminders_session"]
    assert len(session) == 1
    assert session[0]["httpOnly"] is True

    await expect(page.get_by_role("heading", level=1)).to_have_text("Overview")
    labels = {
        t.strip() for t in await page.locator("section#kpis .kpi .kpi-label").all_inner_texts()
    }
    assert labels >= KPI_LABELS, labels
    deliveries_kpi = page.locator("section#kpis .kpi").filter(
        has=page.locator(".kpi-label", has_text=re.compile(r"^\s*Deliveries\s*$"))
    )
    await expect(deliveries_kpi.locator(".kpi-value")).to_have_text(re.compile(r"^\s*[1-9]\d*\s*$"))

    await expect(page.locator("canvas#deliveries-chart")).to_have_attribute("data-rendered", "true")
    today = datetime.now(ZoneInfo("Europe/London"))
    row = page.locator("table#deliveries-by-day tbody tr").filter(
        has=page.locator("td, th", has_text=day_pattern(today))
    )
    await expect(row).to_have_count(1)
    cells = await row.locator("td").all_text_contents()  # it may sit in a closed <details>
    counts = [int(t) for t in cells if t.strip().isdigit()]
    assert counts, "today's row holds no counts"
    assert max(counts) >= 1, counts
    # Chart.js and our script drew all this under the page's Content-Security-Policy.
    assert await page.evaluate("window.__cspViolations") == []
    await snap(page, "overview.png")


# -- reminders -----------------------------------------------------------------------------


async def test_send_now_on_a_reminder_page_adds_a_delivery_row_without_a_reload(
    page: Page, acme: SeededBusiness, live_server: str
) -> None:
    await sign_in(page, acme.email, acme.password)
    await page.goto(f"/admin/reminders/{acme.reminder_id}")
    await expect(page.get_by_role("heading", level=1)).to_have_text(acme.reminder_title)
    await expect(page.locator("a#temporal-link")).to_have_attribute(
        "href", re.compile(f"reminder-{acme.reminder_id}")
    )
    await expect(page.locator("section#timeline")).to_have_count(1)
    rows = page.locator("table#deliveries tbody tr[data-delivery-id]")
    await expect(rows).to_have_count(1)  # the seeded send
    seeded_id = await rows.first.get_attribute("data-delivery-id")
    await expect(rows.first.locator(".status")).to_contain_text(re.compile("delivered", re.I))

    await page.get_by_role("button", name="Send now").click()
    await expect(page.locator(".flash")).to_contain_text(re.compile(r"send|sent", re.I))
    await expect(page).to_have_url(re.compile(rf"/admin/reminders/{acme.reminder_id}"))
    # Mark this document: a reload or a navigation would lose the mark.
    await page.evaluate("window.__sameDocument = true")

    await expect(rows).to_have_count(2, timeout=20_000)
    assert await page.evaluate("window.__sameDocument === true"), "the page was reloaded"
    newest = rows.first
    assert await newest.get_attribute("data-delivery-id") != seeded_id, "newest is not first"
    await expect(newest.locator(".status")).to_contain_text(
        re.compile("delivered", re.I), timeout=20_000
    )
    await snap(page, "reminder.png")

    # A send started elsewhere (here through the API) shows up too: the table refreshes
    # itself, the page stays the same document.
    async with httpx.AsyncClient(base_url=live_server) as http:
        triggered = await http.post(
            f"/api/v1/reminders/{acme.reminder_id}/trigger", headers=acme.headers
        )
    assert triggered.status_code == 202, triggered.text
    await expect(rows).to_have_count(3, timeout=20_000)
    assert await page.evaluate("window.__sameDocument === true"), "the page was reloaded"


async def test_pausing_from_the_reminders_list_swaps_pause_for_resume(
    page: Page, acme: SeededBusiness, live_server: str
) -> None:
    await sign_in(page, acme.email, acme.password)
    await go_to(page, "Reminders")
    await expect(page).to_have_url(re.compile(r"/admin/reminders/?$"))
    row = reminder_row(page, acme.reminder_id)
    await expect(row.get_by_role("link", name=acme.reminder_title)).to_have_attribute(
        "href", re.compile(rf"/admin/reminders/{acme.reminder_id}$")
    )
    await expect(row.locator(".status")).to_contain_text(re.compile("scheduled", re.I))
    await expect(row.get_by_role("button", name="Pause")).to_be_visible()
    await expect(row.get_by_role("button", name="Send now")).to_be_visible()
    await expect(row.get_by_role("button", name="Resume")).to_have_count(0)
    await snap(page, "reminders.png")

    await row.get_by_role("button", name="Pause").click()
    await expect(row.locator(".status")).to_contain_text(re.compile("paused", re.I))
    await expect(row.get_by_role("button", name="Resume")).to_be_visible()
    await expect(row.get_by_role("button", name="Pause")).to_have_count(0)
    await expect(row.get_by_role("button", name="Send now")).to_be_visible()

    # The API agrees, and so does a fresh load of the list.
    async with httpx.AsyncClient(base_url=live_server) as http:
        view = await http.get(f"/api/v1/reminders/{acme.reminder_id}", headers=acme.headers)
    assert view.json()["status"] == "paused"
    await page.reload()
    await expect(reminder_row(page, acme.reminder_id).locator(".status")).to_contain_text(
        re.compile("paused", re.I)
    )


# -- keyboard and small screens ------------------------------------------------------------


async def test_keyboard_only_sign_in_and_navigation_with_visible_focus(
    page: Page, acme: SeededBusiness
) -> None:
    await page.goto("/admin/login")
    await tab_until(page, "el.name === 'email'", "the email field")
    await page.keyboard.type(acme.email)
    await page.keyboard.press("Tab")
    assert await page.evaluate("document.activeElement.name") == "password"
    await page.keyboard.type(acme.password)
    await page.keyboard.press("Enter")
    await expect(page).to_have_url(OVERVIEW_URL)
    await expect(page.get_by_role("heading", level=1)).to_have_text("Overview")

    await tab_until(
        page,
        "el.tagName === 'A' && el.closest('nav#main-nav') && el.textContent.trim() === 'Reminders'",
        "the Reminders link",
    )
    assert await page.evaluate(FOCUS_IS_VISIBLE), "the focused link shows no focus ring"
    await page.keyboard.press("Enter")
    await expect(page).to_have_url(re.compile(r"/admin/reminders/?$"))
    await expect(reminder_row(page, acme.reminder_id)).to_be_visible()


async def test_narrow_screen_overview_does_not_scroll_sideways_and_nav_works(
    new_context: ContextFactory, acme: SeededBusiness
) -> None:
    page = await narrow_page(new_context)
    await sign_in(page, acme.email, acme.password)
    await expect(page.locator("canvas#deliveries-chart")).to_have_attribute("data-rendered", "true")
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= NARROW["width"], f"the document is {width}px wide on a 390px screen"
    await snap(page, "overview-narrow.png")

    link = page.locator("nav#main-nav").get_by_role("link", name="Reminders", exact=True)
    if not await link.is_visible():  # a collapsed menu: open it first
        await page.get_by_role("button", name=re.compile(r"menu|navigation", re.I)).click()
    await expect(link).to_be_visible()
    box = await link.bounding_box()
    assert box is not None
    assert box["x"] >= 0
    assert box["x"] + box["width"] <= NARROW["width"]
    await link.click()
    await expect(page).to_have_url(re.compile(r"/admin/reminders/?$"))


# -- who sees what -------------------------------------------------------------------------


async def test_anonymous_visitor_lands_on_the_login_page(page: Page, acme: SeededBusiness) -> None:
    for path in (
        "/admin/reminders",
        "/admin",
        "/admin/clients",
        "/admin/deliveries",
        f"/admin/reminders/{acme.reminder_id}",
    ):
        await page.goto(path)
        await expect(page).to_have_url(LOGIN_URL)
        await expect(page.locator("form#login-form")).to_be_visible()
        await expect(page.get_by_text(acme.reminder_title)).to_have_count(0)


async def test_owner_cannot_open_another_business_reminder(
    page: Page, acme: SeededBusiness, rival: SeededBusiness
) -> None:
    await sign_in(page, acme.email, acme.password)
    response = await page.goto(f"/admin/reminders/{rival.reminder_id}")
    assert response is not None
    assert response.status == 404
    await expect(page.get_by_text(rival.reminder_title)).to_have_count(0)

    await page.goto("/admin/reminders")
    await expect(reminder_row(page, acme.reminder_id)).to_be_visible()
    await expect(reminder_row(page, rival.reminder_id)).to_have_count(0)


async def choose_business(page: Page, label: str) -> None:
    """Pick a business in the switcher and press its submit button; without one, choosing
    must submit the form by itself."""
    switch = page.locator("form#business-switch")
    select = switch.locator('select[name="business"]')
    submit = switch.locator('button, input[type="submit"]')
    if await submit.count():
        await select.select_option(label=label)
        async with page.expect_navigation():
            await submit.first.click()
    else:
        async with page.expect_navigation():
            await select.select_option(label=label)
    selected = "s => s.options[s.selectedIndex].text.trim()"
    assert await select.evaluate(selected) == label


async def test_superuser_switches_business_and_sees_its_reminders(
    page: Page, acme: SeededBusiness, rival: SeededBusiness, superuser: Superuser
) -> None:
    await sign_in(page, superuser.email, superuser.password)
    options = page.locator('form#business-switch select[name="business"] option')
    names = [t.strip() for t in await options.all_inner_texts()]
    assert names[0] == "All businesses", names
    assert {acme.name, rival.name} <= set(names), names

    await choose_business(page, rival.name)
    await go_to(page, "Reminders")
    await expect(reminder_row(page, rival.reminder_id)).to_be_visible()
    await expect(reminder_row(page, acme.reminder_id)).to_have_count(0)
    await go_to(page, "Clients")
    await expect(page.locator("table#clients tbody tr")).to_have_count(1)
    await expect(page.locator("table#clients")).to_contain_text(rival.client_name)

    await choose_business(page, acme.name)
    await go_to(page, "Reminders")
    await expect(reminder_row(page, acme.reminder_id)).to_be_visible()
    await expect(reminder_row(page, rival.reminder_id)).to_have_count(0)
    await page.get_by_role("link", name=acme.reminder_title).click()
    await expect(page.get_by_role("heading", level=1)).to_have_text(acme.reminder_title)


# -- the other pages, and signing out ------------------------------------------------------


async def test_clients_and_failed_deliveries_pages_then_sign_out(
    page: Page, acme: SeededBusiness, failed_delivery: dict[str, str]
) -> None:
    await sign_in(page, acme.email, acme.password)
    await go_to(page, "Clients")
    await expect(page).to_have_url(re.compile(r"/admin/clients/?$"))
    await expect(page.locator("table#clients tbody tr")).to_have_count(1)
    await expect(page.locator("table#clients")).to_contain_text(acme.client_name)
    await snap(page, "clients.png")

    await go_to(page, "Failed deliveries")
    await expect(page).to_have_url(re.compile(r"/admin/deliveries/?$"))
    failed = page.locator("table#failed-deliveries tbody tr")
    await expect(failed).to_have_count(1)
    await expect(failed).to_contain_text(failed_delivery["error_code"])
    await expect(failed).to_contain_text(failed_delivery["error_message"])
    await snap(page, "failed-deliveries.png")

    await page.locator("form#logout-form").get_by_role("button", name="Sign out").click()
    await expect(page).to_have_url(LOGIN_URL)
    await page.goto("/admin")
    await expect(page).to_have_url(LOGIN_URL)


# -- a password-reset link -----------------------------------------------------------------


async def test_a_reset_link_opens_a_page_that_sets_the_password(
    page: Page, live_app: Any, live_server: str
) -> None:
    async with httpx.AsyncClient(base_url=live_server) as http:
        user = await register_tenant(http, "Resetco")
        root = await superuser_headers(live_app, http)
        issued = await http.post(f"/api/v1/admin/users/{user.user_id}/password-reset", headers=root)
        assert issued.status_code == 200, issued.text
    link = urlsplit(issued.json()["reset_url"])
    await page.goto(f"{link.path}#{link.fragment}")

    # The page's script moved the code into the form and out of the address bar.
    await expect(page.get_by_label("Reset code")).to_have_value(issued.json()["token"])
    await expect(page).to_have_url(re.compile(r"/admin/reset-password$"))
    await expect(page.get_by_label("New password", exact=True)).to_be_focused()
    await page.get_by_label("New password", exact=True).fill("Chosen-In-Browser-5")
    await page.get_by_label("New password again").fill("Chosen-In-Browser-5")
    await page.get_by_role("button", name="Set the password").click()

    await expect(page).to_have_url(LOGIN_URL)
    await expect(page.get_by_role("status")).to_contain_text("Your password was changed")
    await sign_in(page, user.email, "Chosen-In-Browser-5")


# -- a client's done link ------------------------------------------------------------------


async def test_client_opens_their_done_link_attaches_a_file_and_confirms(
    page: Page, acme: SeededBusiness, live_app: Any
) -> None:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=live_app)) as http:
        states = await http.get(
            f"http://test/api/v1/reminders/{acme.reminder_id}/clients", headers=acme.headers
        )
    period = states.json()["period"]
    expires = datetime.now(UTC) + timedelta(days=30)
    link = DoneLink(uuid.UUID(acme.reminder_id), uuid.UUID(acme.client_id), period, expires)
    await page.add_init_script(RECORD_CSP_VIOLATIONS)

    await page.goto(DONE_PATH + make_done_token(live_app.state.settings.SECRET_KEY, link))
    await expect(page.get_by_text(acme.name)).to_be_visible()
    await expect(page.get_by_role("heading", name=acme.reminder_title)).to_be_visible()
    await page.get_by_label("Note (optional)").fill("All sent, thanks")
    await page.get_by_label("Documents (optional)").set_input_files(
        {"name": "bank statement.pdf", "mimeType": "application/pdf", "buffer": b"%PDF-1.7\n%%EOF"}
    )
    await snap(page, "done-link.png")
    await page.get_by_role("button", name="Done").click()

    await expect(page.get_by_role("heading", name="Thank you")).to_be_visible()
    await expect(page.get_by_text("bank statement.pdf")).to_be_visible()
    assert await page.evaluate("window.__cspViolations") == []
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=live_app)) as http:
        states = await http.get(
            f"http://test/api/v1/reminders/{acme.reminder_id}/clients", headers=acme.headers
        )
    [item] = states.json()["items"]
    assert item["state"] == "done"
    assert item["note"] == "All sent, thanks"
    assert [d["filename"] for d in item["documents"]] == ["bank statement.pdf"]
