"""A reminder may name its sender identity per channel (`sender_identity_ids`): its
messages go out as that identity, others as the channel's default, and a deleted identity
gives way to the default. Through the API, a worker on the time-skipping server, a real
SMTP server and a local Twilio."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import pytest

from core.settings import Settings
from tests.builders.firm import Firm, firm_on
from tests.conftest import register_tenant, settings_changed

OFFICE = "office@ledger.example"
PARTNERS = "partners@ledger.example"
OFFICE_NUMBER = "+447400100100"
PARTNERS_NUMBER = "+447400200200"
BACK_OFFICE_NUMBER = "+447400300300"
URL = "/api/v1/reminders"


@pytest.fixture
async def firm(temporal_time_skipping: Any, settings: Settings) -> AsyncIterator[Firm]:
    async with firm_on(temporal_time_skipping, settings) as firm:
        yield firm


async def identity(firm: Firm, channel: str, **fields: Any) -> str:
    response = await firm.http.post(
        "/api/v1/sender-identities", json={"channel": channel, **fields}, headers=firm.headers
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def identities(firm: Firm) -> dict[str, str]:
    """Two email identities and three SMS: the first made is the channel's default."""
    return {
        "office": await identity(firm, "email", from_email=OFFICE, from_name="Ledger Office"),
        "partners": await identity(firm, "email", from_email=PARTNERS, from_name="Partners"),
        "office_sms": await identity(firm, "sms", from_number=OFFICE_NUMBER),
        "partners_sms": await identity(firm, "sms", from_number=PARTNERS_NUMBER),
        "back_office_sms": await identity(firm, "sms", from_number=BACK_OFFICE_NUMBER),
    }


def body(firm_client: str, at: str, **fields: Any) -> dict[str, Any]:
    return {
        "title": "Payroll documents",
        "type": "document_request",
        "client_ids": [firm_client],
        "channels": ["email", "sms"],
        "body": "Hi {{ client.name }}, please send your payroll documents.",
        "schedule": {"kind": "once", "at": at},
        **fields,
    }


async def test_a_reminder_sends_as_the_identities_it_names(firm: Firm) -> None:
    ids = await identities(firm)
    at = (await firm.now() + timedelta(hours=1)).isoformat()
    named = {"email": ids["partners"], "sms": ids["partners_sms"]}
    cys = {"email": ids["partners"], "sms": ids["back_office_sms"]}
    made = {}
    for name, phone, fields in (
        ("Ada", "+447911000111", {"sender_identity_ids": named}),
        ("Bob", "+447911000222", {}),
        ("Cy", "+447911000333", {"sender_identity_ids": cys}),
    ):
        client_id = await firm.add_client(name, phone=phone)
        response = await firm.http.post(
            URL, json=body(client_id, at, **fields), headers=firm.headers
        )
        assert response.status_code == 201, response.text
        made[name] = response.json()
    assert made["Ada"]["sender_identity_ids"] == named
    assert made["Bob"]["sender_identity_ids"] == {}
    # Partners' SMS identity is deleted while Ada's reminder names it: her text goes from
    # the default number (Cy's names another, which stays).
    deleted = await firm.http.delete(
        f"/api/v1/sender-identities/{ids['partners_sms']}", headers=firm.headers
    )
    assert deleted.status_code == 204, deleted.text
    read = await firm.http.get(f"{URL}/{made['Ada']['id']}", headers=firm.headers)
    assert read.json()["sender_identity_ids"] == {"email": ids["partners"]}

    await firm.sleep_until(await firm.now() + timedelta(hours=1, minutes=5))

    senders = {m.rcpt_tos[0]: str(m.message["From"]) for m in firm.smtp.messages}
    assert PARTNERS in senders["ada@example.com"]
    assert OFFICE in senders["bob@example.com"]
    assert PARTNERS in senders["cy@example.com"]
    texts = {m.to: m.from_ for m in firm.twilio.messages}
    assert texts == {
        "+447911000111": OFFICE_NUMBER,
        "+447911000222": OFFICE_NUMBER,
        "+447911000333": BACK_OFFICE_NUMBER,
    }


async def test_named_identities_are_checked(firm: Firm) -> None:
    ids = await identities(firm)
    rival = await register_tenant(firm.http, "Rival")
    response = await firm.http.post(
        "/api/v1/sender-identities",
        json={"channel": "email", "from_email": "rival@rival.example"},
        headers=rival.headers,
    )
    rivals = response.json()["id"]
    client_id = await firm.add_client("Ada")
    at = (await firm.now() + timedelta(hours=1)).isoformat()
    for named, channels, says in [
        ({"email": rivals}, ["email"], "no sender identity"),  # another business's
        ({"email": ids["office_sms"]}, ["email"], "is a sms identity"),
        ({"sms": ids["office_sms"]}, ["email"], "not one of the reminder's channels"),
        ({"fax": ids["office"]}, ["email"], ""),
        ({"email": "not-a-uuid"}, ["email"], ""),
    ]:
        fields = {"sender_identity_ids": named, "channels": channels}
        response = await firm.http.post(
            URL, json=body(client_id, at, **fields), headers=firm.headers
        )
        assert response.status_code == 422, (named, response.text)
        assert says in response.json()["detail"]
    # Where sending needs verified senders, an unverified identity cannot be named.
    with settings_changed(firm.http.app, REQUIRE_VERIFIED_SENDERS=True):  # type: ignore[attr-defined]
        fields = {"sender_identity_ids": {"email": ids["partners"]}}
        response = await firm.http.post(
            URL, json=body(client_id, at, **fields), headers=firm.headers
        )
    assert response.status_code == 422
    assert "not verified" in response.json()["detail"]
    listed = await firm.http.get(URL, headers=firm.headers)
    assert listed.json()["total"] == 0

    # The rival's own reminders cannot name the firm's identities either.
    rival_client = await firm.http.post(
        "/api/v1/clients", json={"name": "Zed", "email": "zed@example.com"}, headers=rival.headers
    )
    rival_body = body(rival_client.json()["id"], at, sender_identity_ids={"email": ids["office"]})
    response = await firm.http.post(URL, json=rival_body, headers=rival.headers)
    assert response.status_code == 422


async def test_named_identities_change_with_the_reminder(firm: Firm) -> None:
    ids = await identities(firm)
    client_id = await firm.add_client("Ada")
    at = (await firm.now() + timedelta(hours=1)).isoformat()
    fields = {"sender_identity_ids": {"sms": ids["partners_sms"]}}
    response = await firm.http.post(URL, json=body(client_id, at, **fields), headers=firm.headers)
    assert response.status_code == 201, response.text
    path = f"{URL}/{response.json()['id']}"

    async def patch(change: dict[str, Any]) -> Any:
        return await firm.http.patch(path, json=change, headers=firm.headers)

    # Dropping SMS while its identity stays named is refused; both together are fine.
    refused = await patch({"channels": ["email"]})
    assert refused.status_code == 422
    assert "sender_identity_ids.sms" in refused.json()["detail"]
    refused = await patch({"sender_identity_ids": {"email": ids["office_sms"]}})
    assert refused.status_code == 422
    changed = await patch(
        {"channels": ["email"], "sender_identity_ids": {"email": ids["partners"]}}
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["sender_identity_ids"] == {"email": ids["partners"]}
    cleared = await patch({"sender_identity_ids": None})
    assert cleared.status_code == 200, cleared.text
    read = await firm.http.get(path, headers=firm.headers)
    assert read.json()["sender_identity_ids"] == {}
    assert read.json()["channels"] == ["email"]
    # Cleared: it sends as the default (and ends, leaving no workflow behind).
    await firm.sleep_until(datetime.fromisoformat(at) + timedelta(minutes=5))
    [sent] = firm.smtp.messages
    assert OFFICE in str(sent.message["From"])
