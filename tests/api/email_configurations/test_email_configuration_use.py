"""Reminders and email sender identities naming one of the business's SMTP servers: only
the caller's own configuration may be named, an SMS identity names none, a server still in
use cannot be deleted, and in production no password crosses the network in clear text."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from core.enums import ReminderStatus
from core.models import EmailConfiguration, Reminder
from core.settings import Environment
from tests.builders.api import add_client, reminder_body
from tests.conftest import Tenant, count_rows
from workflows.contracts import workflow_id_for

CONFIGS = "/api/v1/email-configurations"
REMINDERS = "/api/v1/reminders"
IDENTITIES = "/api/v1/sender-identities"


async def add_configuration(
    http: httpx.AsyncClient, tenant: Tenant, name: str = "Office", **fields: Any
) -> str:
    payload = {
        "name": name,
        "host": "smtp.acme.example.com",
        "port": 587,
        "security": "starttls",
        "username": "mailer",
        "password": "Mailer-Secret-Canary-42",
        "from_email": "office@acme.example.com",
        **fields,
    }
    response = await http.post(CONFIGS, headers=tenant.headers, json=payload)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def add_reminder_row(
    app: Any,
    tenant: Tenant,
    client_id: str,
    status: str = ReminderStatus.scheduled.value,
    **row: Any,
) -> str:
    """A reminder row straight into the table (creating one through the API needs Temporal,
    and a change of server needs none)."""
    reminder_id = uuid.uuid4()
    async with app.state.sessionmaker() as session:
        session.add(
            Reminder(
                id=reminder_id,
                business_id=uuid.UUID(tenant.business_id),
                title="VAT return",
                type="deadline",
                client_ids=[client_id],
                channels=["email"],
                body="Hi {{ client.name }}",
                timezone="Europe/London",
                schedule={"kind": "once", "at": "2099-06-01T09:00:00+00:00"},
                status=status,
                workflow_id=workflow_id_for(str(reminder_id)),
                **row,
            )
        )
        await session.commit()
    return str(reminder_id)


async def read(http: httpx.AsyncClient, tenant: Tenant, path: str) -> dict[str, Any]:
    response = await http.get(path, headers=tenant.headers)
    assert response.status_code == 200, response.text
    return dict(response.json())


def refused_naming_the_field(response: httpx.Response) -> None:
    assert response.status_code == 422, response.text
    assert "email_configuration_id" in response.json()["detail"]


# -- reminders ---------------------------------------------------------------------------


async def test_a_reminder_names_its_own_server_and_any_state_may_change_it(
    app: Any, client: httpx.AsyncClient, owner: Tenant
) -> None:
    first = await add_configuration(client, owner, "First")
    second = await add_configuration(client, owner, "Second")
    client_id = await add_client(client, owner)
    for status in (ReminderStatus.scheduled.value, ReminderStatus.paused.value):
        reminder_id = await add_reminder_row(app, owner, client_id, status)
        path = f"{REMINDERS}/{reminder_id}"
        assert (await read(client, owner, path))["email_configuration_id"] is None
        # Temporal is not reachable from this app: a change of server needs no signal.
        for value in (first, second, None):
            changed = await client.patch(
                path, headers=owner.headers, json={"email_configuration_id": value}
            )
            assert changed.status_code == 200, changed.text
            assert changed.json()["email_configuration_id"] == value
            assert (await read(client, owner, path))["email_configuration_id"] == value
            assert (await read(client, owner, path))["status"] == status

    events = await client.get(
        "/api/v1/events", headers=owner.headers, params={"action": "reminder.updated"}
    )
    fields = [event["payload"]["fields"] for event in events.json()["items"]]
    assert fields == [["email_configuration_id"]] * 6  # two reminders, three changes each


async def test_another_business_server_on_a_reminder_is_refused_and_nothing_changes(
    app: Any, client: httpx.AsyncClient, owner: Tenant, other_owner: Tenant
) -> None:
    mine = await add_configuration(client, owner)
    theirs = await add_configuration(client, other_owner)
    client_id = await add_client(client, owner)

    for config_id in (theirs, str(uuid.uuid4())):
        created = await client.post(
            REMINDERS,
            headers=owner.headers,
            json=reminder_body(client_id, email_configuration_id=config_id),
        )
        refused_naming_the_field(created)
    assert await count_rows(app, "reminders") == 0

    reminder_id = await add_reminder_row(app, owner, client_id, email_configuration_id=None)
    path = f"{REMINDERS}/{reminder_id}"
    await client.patch(path, headers=owner.headers, json={"email_configuration_id": mine})
    before = await read(client, owner, path)
    changed = await client.patch(
        path, headers=owner.headers, json={"email_configuration_id": theirs, "title": "Changed"}
    )
    refused_naming_the_field(changed)
    assert await read(client, owner, path) == before
    assert before["email_configuration_id"] == mine


async def test_an_idempotent_create_keeps_the_server_in_its_request(
    live_app: Any, client: httpx.AsyncClient, owner: Tenant
) -> None:
    first = await add_configuration(client, owner, "A")
    second = await add_configuration(client, owner, "B")
    client_id = await add_client(client, owner)
    key = {**owner.headers, "Idempotency-Key": f"key-{uuid.uuid4()}"}
    body = reminder_body(client_id, email_configuration_id=first)
    created = await client.post(REMINDERS, headers=key, json=body)
    again = await client.post(REMINDERS, headers=key, json=body)
    assert created.status_code == again.status_code == 201, again.text
    assert again.json()["id"] == created.json()["id"]
    assert again.json()["email_configuration_id"] == first
    other = await client.post(
        REMINDERS, headers=key, json={**body, "email_configuration_id": second}
    )
    assert other.status_code == 422
    assert "Idempotency-Key" in other.json()["detail"]
    assert await count_rows(live_app, "reminders") == 1


# -- sender identities -------------------------------------------------------------------


async def test_an_email_identity_names_its_own_server_and_null_clears_it(
    client: httpx.AsyncClient, owner: Tenant
) -> None:
    config_id = await add_configuration(client, owner)
    created = await client.post(
        IDENTITIES,
        headers=owner.headers,
        json={
            "channel": "email",
            "from_email": "office@acme.example.com",
            "email_configuration_id": config_id,
        },
    )
    assert created.status_code == 201, created.text
    path = f"{IDENTITIES}/{created.json()['id']}"
    assert (await read(client, owner, path))["email_configuration_id"] == config_id
    cleared = await client.patch(path, headers=owner.headers, json={"email_configuration_id": None})
    assert cleared.status_code == 200, cleared.text
    assert (await read(client, owner, path))["email_configuration_id"] is None
    named = await client.patch(
        path, headers=owner.headers, json={"email_configuration_id": config_id}
    )
    assert named.json()["email_configuration_id"] == config_id

    events = await client.get(
        "/api/v1/events", headers=owner.headers, params={"action": "sender_identity.updated"}
    )
    assert [e["payload"]["fields"] for e in events.json()["items"]] == [
        ["email_configuration_id"],
        ["email_configuration_id"],
    ]


async def test_an_identity_may_not_name_another_business_server_or_be_sms(
    app: Any, client: httpx.AsyncClient, owner: Tenant, other_owner: Tenant
) -> None:
    mine = await add_configuration(client, owner)
    theirs = await add_configuration(client, other_owner)
    email = {"channel": "email", "from_email": "office@acme.example.com"}
    sms = {"channel": "sms", "from_number": "+447911000555"}

    for body in (
        {**email, "email_configuration_id": theirs},
        {**sms, "email_configuration_id": mine},
    ):
        refused_naming_the_field(await client.post(IDENTITIES, headers=owner.headers, json=body))
    assert await count_rows(app, "sender_identities") == 0

    identities = []
    for body in (email, sms):
        response = await client.post(IDENTITIES, headers=owner.headers, json=body)
        assert response.status_code == 201, response.text
        identities.append(f"{IDENTITIES}/{response.json()['id']}")
    email_path, sms_path = identities
    for path, config_id in ((email_path, theirs), (sms_path, mine)):
        before = await read(client, owner, path)
        changed = await client.patch(
            path,
            headers=owner.headers,
            json={"email_configuration_id": config_id, "from_name": "Changed"},
        )
        refused_naming_the_field(changed)
        assert await read(client, owner, path) == before
    sms_refusal = await client.patch(
        sms_path, headers=owner.headers, json={"email_configuration_id": mine}
    )
    assert "sms" in sms_refusal.json()["detail"]


# -- deleting a server in use ------------------------------------------------------------


async def test_a_server_in_use_cannot_be_deleted_until_nothing_live_names_it(
    app: Any, client: httpx.AsyncClient, owner: Tenant
) -> None:
    config_id = await add_configuration(client, owner)
    path = f"{CONFIGS}/{config_id}"
    client_id = await add_client(client, owner)
    config = uuid.UUID(config_id)
    scheduled = await add_reminder_row(app, owner, client_id, email_configuration_id=config)
    await add_reminder_row(
        app, owner, client_id, ReminderStatus.paused.value, email_configuration_id=config
    )
    done = await add_reminder_row(
        app, owner, client_id, ReminderStatus.completed.value, email_configuration_id=config
    )
    identity = await client.post(
        IDENTITIES,
        headers=owner.headers,
        json={
            "channel": "email",
            "from_email": "office@acme.example.com",
            "email_configuration_id": config_id,
        },
    )
    identity_path = f"{IDENTITIES}/{identity.json()['id']}"

    refused = await client.delete(path, headers=owner.headers)
    assert refused.status_code == 409, refused.text
    assert "2 scheduled or paused reminders" in refused.json()["detail"]
    assert "1 sender identity" in refused.json()["detail"]
    assert (await read(client, owner, path))["id"] == config_id

    # The paused one is cancelled (the workflow is gone; the row follows), one is cleared.
    async with app.state.sessionmaker() as session:
        rows = await session.scalars(
            select(Reminder).where(Reminder.status == ReminderStatus.paused.value)
        )
        for row in rows:
            row.status = ReminderStatus.cancelled.value
        await session.commit()
    await client.patch(
        f"{REMINDERS}/{scheduled}", headers=owner.headers, json={"email_configuration_id": None}
    )
    still = await client.delete(path, headers=owner.headers)
    assert still.status_code == 409
    assert "reminder" not in still.json()["detail"]
    assert "1 sender identity" in still.json()["detail"]

    await client.patch(identity_path, headers=owner.headers, json={"email_configuration_id": None})
    assert (await client.delete(path, headers=owner.headers)).status_code == 204
    assert (await client.get(path, headers=owner.headers)).status_code == 404
    # The completed reminder did not block; the database let go of the server for it.
    assert (await read(client, owner, f"{REMINDERS}/{done}"))["email_configuration_id"] is None


# -- production: no password in clear text -----------------------------------------------


@pytest.fixture
def production(app: Any) -> Iterator[None]:
    settings = app.state.settings
    app.state.settings = settings.model_copy(update={"ENV": Environment.production})
    try:
        yield
    finally:
        app.state.settings = settings


async def stored_configurations(app: Any) -> list[tuple[Any, ...]]:
    async with app.state.sessionmaker() as session:
        rows = await session.scalars(select(EmailConfiguration).order_by(EmailConfiguration.name))
        return [
            (row.name, row.security, row.password_encrypted, row.host, row.updated_at)
            for row in rows
        ]


async def test_in_production_a_password_never_goes_unencrypted(
    app: Any, client: httpx.AsyncClient, owner: Tenant, production: None
) -> None:
    refused = await client.post(
        CONFIGS,
        headers=owner.headers,
        json={
            "name": "Relay",
            "host": "relay.acme.example.com",
            "security": "none",
            "password": "Secret-Over-The-Wire",
            "from_email": "office@acme.example.com",
        },
    )
    assert refused.status_code == 422, refused.text
    assert "clear text" in refused.json()["detail"]
    assert await count_rows(app, "email_configurations") == 0

    # A relay without a login is fine, and so is a password over TLS.
    relay = await add_configuration(
        client, owner, "Relay", security="none", username=None, password=None
    )
    tls = await add_configuration(client, owner, "Office", security="tls")
    before = await stored_configurations(app)
    for config_id, change in (
        (relay, {"password": "Secret-Over-The-Wire", "host": "new.acme.example.com"}),
        (tls, {"security": "none", "host": "new.acme.example.com"}),
    ):
        response = await client.patch(f"{CONFIGS}/{config_id}", headers=owner.headers, json=change)
        assert response.status_code == 422, response.text
        assert "clear text" in response.json()["detail"]
    assert await stored_configurations(app) == before

    # Dropping the password along with the encryption is not sending it at all.
    dropped = await client.patch(
        f"{CONFIGS}/{tls}", headers=owner.headers, json={"security": "none", "password": None}
    )
    assert dropped.status_code == 200, dropped.text
    assert dropped.json()["has_password"] is False


async def test_outside_production_a_relay_with_a_password_is_allowed(
    client: httpx.AsyncClient, owner: Tenant
) -> None:
    config_id = await add_configuration(client, owner, security="none")
    assert (await read(client, owner, f"{CONFIGS}/{config_id}"))["has_password"] is True
