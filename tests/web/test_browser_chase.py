"""Chasing clients until done in a real browser (Debian's Chromium, headless) against the
app served over HTTP with a Temporal dev server and a worker: staff find who is still
outstanding and mark a client done."""

from __future__ import annotations

import os
import re

import httpx
import pytest

from tests.web.conftest import SeededBusiness, snap

try:
    from playwright.async_api import Page, expect
except ImportError:  # pragma: no cover - the dev extra installs it
    if os.environ.get("REQUIRE_BROWSER") == "1":
        raise
    pytest.skip("playwright is not installed (pip install -e '.[dev]')", allow_module_level=True)

expect.set_options(timeout=10_000)


async def test_staff_mark_an_outstanding_client_done_and_it_moves_to_done(
    page: Page, acme: SeededBusiness, live_server: str
) -> None:
    await page.goto("/admin/login")
    form = page.locator("form#login-form")
    await form.get_by_label("Email", exact=True).fill(acme.email)
    await form.get_by_label("Password", exact=True).fill(acme.password)
    await form.get_by_role("button", name="Sign in").click()

    # The overview names the reminder with its one client outstanding and links to them.
    overview_row = page.locator(
        f'table#outstanding-reminders tr[data-reminder-id="{acme.reminder_id}"]'
    )
    await expect(overview_row.locator('[data-count="outstanding"]')).to_have_text("1")
    await overview_row.get_by_role("link", name=acme.reminder_title).click()
    await expect(page.get_by_role("heading", level=1)).to_have_text(acme.reminder_title)

    clients = page.locator("section#clients")
    filters = clients.locator("nav#client-filters")
    await expect(
        filters.get_by_role("link", name=re.compile(r"^Outstanding \(1\)"))
    ).to_have_attribute("aria-current", "true")
    row = clients.locator(f'table#client-states tr[data-client-id="{acme.client_id}"]')
    await expect(row.locator("th")).to_have_text(acme.client_name)
    await expect(row.locator(".status")).to_have_text("outstanding")
    await row.get_by_label(f"Note for {acme.client_name}").fill("Signed at the office")
    await snap(page, "clients-outstanding.png")
    await row.get_by_role("button", name=f"Mark done: {acme.client_name}").click()

    await expect(page.locator(".flash[role=status]")).to_contain_text("Marked done")
    await expect(clients.locator("table#client-states")).to_have_count(0)  # none outstanding
    await expect(clients).to_contain_text("No outstanding clients in this period.")
    await filters.get_by_role("link", name=re.compile(r"^Done \(1\)")).click()
    done = clients.locator(f'table#client-states tr[data-client-id="{acme.client_id}"]')
    await expect(done.locator(".status")).to_have_text("done")
    await expect(done).to_contain_text("by staff (Acme Owner)")
    await expect(done).to_contain_text("Signed at the office")
    await expect(done.get_by_role("button", name=re.compile("Mark done"))).to_have_count(0)
    await snap(page, "clients-done.png")

    async with httpx.AsyncClient(base_url=live_server) as http:
        states = await http.get(
            f"/api/v1/reminders/{acme.reminder_id}/clients", headers=acme.headers
        )
    assert states.status_code == 200, states.text
    [item] = states.json()["items"]
    assert (item["state"], item["done_source"]) == ("done", "staff")
