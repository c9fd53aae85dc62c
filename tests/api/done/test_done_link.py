"""A client's done link: the page it opens changes nothing, its confirmation marks the
client done with a note and documents staff can download, and every link that cannot be
used gets a page saying why (never JSON, never a 500)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest

from core.settings import Settings
from tests.api.done.links import (
    PDF,
    PERIOD,
    client_states,
    link_path,
    pdf,
    reminder_for_a_client,
    stored_files,
)
from tests.builders.api import add_client
from tests.builders.rows import add_reminder_row
from tests.conftest import Tenant, count_rows

DOCUMENTS = "/api/v1/reminders/{}/clients/{}/documents/{}"


def is_page(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("text/html")
    return response.text


async def nothing_recorded(app: Any) -> bool:
    return (
        await count_rows(app, "client_progress") == 0
        and await count_rows(app, "client_documents") == 0
    )


async def test_opening_the_link_shows_the_page_and_changes_nothing(
    client: httpx.AsyncClient, app: Any, owner: Tenant, settings: Settings
) -> None:
    reminder_id, client_id = await reminder_for_a_client(client, app, owner, title="VAT Q4")

    response = await client.get(link_path(settings, reminder_id, client_id))

    page = is_page(response, 200)
    assert "Acme Accounting" in page
    assert "VAT Q4" in page
    assert "Due Tuesday 7 January 2031" in page
    assert '<form method="post" enctype="multipart/form-data">' in page
    assert 'type="file" name="files" multiple' in page
    for loads_something in ("src=", "<link", "<script"):
        assert loads_something not in page
    policy = response.headers["content-security-policy"]
    assert "default-src 'none'" in policy
    assert "form-action 'self'" in policy
    assert "frame-ancestors 'none'" in policy
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["cache-control"] == "no-store"
    assert await nothing_recorded(app)
    states = await client_states(client, owner, reminder_id)
    assert [item["state"] for item in states["items"]] == ["outstanding"]


async def test_confirming_with_a_pdf_marks_the_client_done_and_staff_get_the_same_bytes(
    client: httpx.AsyncClient, live_app: Any, owner: Tenant, settings: Settings
) -> None:
    reminder_id, client_id = await reminder_for_a_client(client, live_app, owner)

    response = await client.post(
        link_path(settings, reminder_id, client_id),
        data={"note": "Sent the receipts  "},
        files=[pdf("../../etc/Receipts März.pdf")],
    )

    page = is_page(response, 200)
    assert "Thank you" in page
    assert "Receipts März.pdf" in page
    [item] = (await client_states(client, owner, reminder_id))["items"]
    assert item["state"] == "done"
    assert item["done_source"] == "client"
    assert item["note"] == "Sent the receipts"
    [document] = item["documents"]
    assert document["filename"] == "Receipts März.pdf"
    assert document["content_type"] == "application/pdf"
    assert document["size"] == len(PDF)

    download = await client.get(
        DOCUMENTS.format(reminder_id, client_id, document["id"]), headers=owner.headers
    )

    assert download.status_code == 200
    assert download.content == PDF
    assert download.headers["content-type"] == "application/pdf"
    assert download.headers["x-content-type-options"] == "nosniff"
    assert download.headers["content-security-policy"].startswith("default-src 'none'")
    disposition = download.headers["content-disposition"]
    assert disposition.startswith("attachment;")
    assert "filename*=UTF-8''Receipts%20M%C3%A4rz.pdf" in disposition


async def test_a_used_link_says_so_and_a_second_confirmation_keeps_nothing(
    client: httpx.AsyncClient, live_app: Any, owner: Tenant, settings: Settings
) -> None:
    reminder_id, client_id = await reminder_for_a_client(client, live_app, owner)
    path = link_path(settings, reminder_id, client_id)
    first = await client.post(path, data={"note": "first"}, files=[pdf()])
    assert first.status_code == 200, first.text
    files_before = stored_files(settings)

    again = await client.post(path, data={"note": "second"}, files=[pdf("other.pdf")])
    opened = await client.get(path)

    assert "Already done" in is_page(again, 409)
    assert "Already done" in is_page(opened, 200)
    assert stored_files(settings) == files_before
    [item] = (await client_states(client, owner, reminder_id))["items"]
    assert item["note"] == "first"
    assert [d["filename"] for d in item["documents"]] == ["receipt.pdf"]


@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_forged_or_malformed_links_get_a_404_page(
    client: httpx.AsyncClient, app: Any, owner: Tenant, settings: Settings, method: str
) -> None:
    reminder_id, client_id = await reminder_for_a_client(client, app, owner)
    real = link_path(settings, reminder_id, client_id)
    forged = link_path(settings.model_copy(update={"SECRET_KEY": "x" * 40}), reminder_id, client_id)
    flipped = real[:-1] + ("A" if real[-1] != "A" else "B")

    for path in (forged, flipped, "/api/v1/done/not-a-token", "/api/v1/done/" + "A" * 86):
        response = await client.request(method, path, files=[pdf()])
        assert "Link not valid" in is_page(response, 404), path
    assert await nothing_recorded(app)


async def test_an_expired_link_gets_a_410_page(
    client: httpx.AsyncClient, app: Any, owner: Tenant, settings: Settings
) -> None:
    reminder_id, client_id = await reminder_for_a_client(client, app, owner)
    path = link_path(settings, reminder_id, client_id, expires_in=timedelta(seconds=-1))

    opened = await client.get(path)
    posted = await client.post(path, files=[pdf()])

    assert "Link expired" in is_page(opened, 410)
    assert "expired" in is_page(posted, 410)
    assert await nothing_recorded(app)


async def test_links_to_a_deleted_client_or_one_no_longer_targeted_get_a_404_page(
    client: httpx.AsyncClient, app: Any, owner: Tenant, settings: Settings
) -> None:
    reminder_id, client_id = await reminder_for_a_client(client, app, owner)
    dropped = await add_client(client, owner, name="Dropped")
    deleted = await client.delete(f"/api/v1/clients/{client_id}", headers=owner.headers)
    assert deleted.status_code == 204, deleted.text

    for path in (
        link_path(settings, reminder_id, client_id),
        link_path(settings, reminder_id, dropped),
        link_path(settings, "00000000-0000-4000-8000-000000000000", dropped),
    ):
        for method in ("GET", "POST"):
            response = await client.request(method, path, files=[pdf()])
            assert "no longer in use" in is_page(response, 404), (method, path)
    assert await nothing_recorded(app)


async def test_a_link_cannot_reach_another_business_s_reminder(
    client: httpx.AsyncClient,
    app: Any,
    owner: Tenant,
    other_owner: Tenant,
    settings: Settings,
) -> None:
    # A genuine link could only name its own reminder and client; even one naming a
    # rival's reminder with our client (or the other way round) reaches nothing.
    ours = await add_client(client, owner)
    theirs = await add_client(client, other_owner)
    their_reminder = await add_reminder_row(app, other_owner, client_ids=[ours, theirs])
    our_reminder = await add_reminder_row(app, owner, client_ids=[ours, theirs])

    for path in (
        link_path(settings, their_reminder, ours),
        link_path(settings, our_reminder, theirs),
    ):
        response = await client.post(path, data={"note": "hi"}, files=[pdf()])
        assert "no longer in use" in is_page(response, 404)
    assert await nothing_recorded(app)


async def test_when_temporal_is_unreachable_the_page_says_try_again_and_nothing_is_kept(
    client: httpx.AsyncClient, app: Any, owner: Tenant, settings: Settings
) -> None:
    # The session's app points at a Temporal that does not answer.
    reminder_id, client_id = await reminder_for_a_client(client, app, owner)
    files_before = stored_files(settings)

    response = await client.post(
        link_path(settings, reminder_id, client_id), data={"note": "n"}, files=[pdf(), pdf("b.pdf")]
    )

    assert "try again" in is_page(response, 503)
    assert response.headers["retry-after"]
    assert stored_files(settings) == files_before
    assert await nothing_recorded(app)
    # The link still works once Temporal is back: the page asks again.
    assert "<form" in is_page(await client.get(link_path(settings, reminder_id, client_id)), 200)


async def test_the_page_escapes_the_business_name_and_the_title(
    client: httpx.AsyncClient, app: Any, owner: Tenant, settings: Settings
) -> None:
    renamed = await client.patch(
        "/api/v1/business", headers=owner.headers, json={"name": "<script>x</script> & Co"}
    )
    assert renamed.status_code == 200, renamed.text
    reminder_id, client_id = await reminder_for_a_client(
        client, app, owner, title='"><img src=x onerror=alert(1)>'
    )

    page = is_page(await client.get(link_path(settings, reminder_id, client_id)), 200)

    assert "<script>" not in page
    assert "<img" not in page
    assert "&lt;script&gt;x&lt;/script&gt; &amp; Co" in page
    assert "&quot;&gt;&lt;img src=x onerror=alert(1)&gt;" in page


async def test_staff_of_another_business_or_another_client_path_cannot_download(
    client: httpx.AsyncClient,
    live_app: Any,
    owner: Tenant,
    other_owner: Tenant,
    settings: Settings,
) -> None:
    reminder_id, client_id = await reminder_for_a_client(client, live_app, owner)
    other_client = await add_client(client, owner, name="Other")
    done = await client.post(link_path(settings, reminder_id, client_id), files=[pdf()])
    assert done.status_code == 200, done.text
    [item] = (await client_states(client, owner, reminder_id))["items"]
    document_id = item["documents"][0]["id"]
    their_reminder = await add_reminder_row(live_app, other_owner, client_ids=[])

    attempts = [
        (other_owner, DOCUMENTS.format(reminder_id, client_id, document_id)),
        (other_owner, DOCUMENTS.format(their_reminder, client_id, document_id)),
        (owner, DOCUMENTS.format(reminder_id, other_client, document_id)),
        (owner, DOCUMENTS.format(reminder_id, client_id, "not-an-id")),
        (owner, DOCUMENTS.format(reminder_id, client_id, other_client)),
    ]
    for tenant, url in attempts:
        response = await client.get(url, headers=tenant.headers)
        assert response.status_code == 404, url
        assert PDF not in response.content
    anonymous = await client.get(DOCUMENTS.format(reminder_id, client_id, document_id))
    assert anonymous.status_code == 401
    assert PERIOD == item["period"]
