"""The reminder options that steer delivery: fall back to the client's next channel, and an
approved WhatsApp template for outside the 24-hour session. Stored, returned, validated."""

from __future__ import annotations

from typing import Any

import httpx

from tests.builders.api import REMINDERS_URL, add_client, create_reminder, reminder_body
from tests.conftest import Tenant, count_rows

CONTENT_SID = "HX" + "0123456789abcdef" * 2


async def test_options_are_stored_returned_and_changeable(
    live_app: Any, client: httpx.AsyncClient, owner: Tenant
) -> None:
    client_id = await add_client(client, owner)
    created = await create_reminder(
        client,
        owner,
        reminder_body(
            client_id,
            fallback=True,
            whatsapp_content_sid=CONTENT_SID,
            whatsapp_content_variables={"1": "{{ client.name }}"},
        ),
    )
    assert created["fallback"] is True
    assert created["whatsapp_content_sid"] == CONTENT_SID
    assert created["whatsapp_content_variables"] == {"1": "{{ client.name }}"}

    changed = await client.patch(
        f"{REMINDERS_URL}/{created['id']}",
        headers=owner.headers,
        json={"fallback": False, "whatsapp_content_variables": {"1": "{{ business.name }}"}},
    )
    assert changed.status_code == 200, changed.text
    fetched = (await client.get(f"{REMINDERS_URL}/{created['id']}", headers=owner.headers)).json()
    assert fetched["fallback"] is False
    assert fetched["whatsapp_content_variables"] == {"1": "{{ business.name }}"}


async def test_defaults_are_no_fallback_and_no_template(
    live_app: Any, client: httpx.AsyncClient, owner: Tenant
) -> None:
    created = await create_reminder(client, owner, reminder_body(await add_client(client, owner)))
    assert created["fallback"] is False
    assert created["whatsapp_content_sid"] is None
    assert created["whatsapp_content_variables"] == {}


async def test_bad_options_are_refused_and_store_nothing(
    app: Any, client: httpx.AsyncClient, owner: Tenant
) -> None:
    client_id = await add_client(client, owner)
    for bad, field in [
        ({"whatsapp_content_sid": "HX123"}, "whatsapp_content_sid"),
        ({"whatsapp_content_sid": "SM" + "0" * 32}, "whatsapp_content_sid"),
        ({"whatsapp_content_variables": {"1": "{{ client.name "}}, "whatsapp_content_variables"),
        ({"whatsapp_content_variables": {"bad key": "x"}}, "whatsapp_content_variables"),
        ({"whatsapp_content_variables": {"1": 5}}, "whatsapp_content_variables"),
        ({"fallback": "sometimes"}, "fallback"),
    ]:
        response = await client.post(
            REMINDERS_URL, headers=owner.headers, json=reminder_body(client_id, **bad)
        )
        assert response.status_code == 422, (bad, response.text)
        assert field in response.text, (bad, response.text)
    assert await count_rows(app, "reminders") == 0
