"""A business's own SMTP servers: owners manage them, staff read them, nobody ever reads a
password back, the database holds only ciphertext, and `/test` really logs in and sends."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import httpx
import pytest
from cryptography.fernet import Fernet
from sqlalchemy import text
from typer.testing import CliRunner

from core.crypto import SecretUnreadable, decrypt, encrypt, rotate_stored_secrets
from core.models import EmailConfiguration
from core.settings import Settings
from tests.conftest import Tenant
from tests.fakes.smtp import FakeSmtpServer, silent_server, unused_port

URL = "/api/v1/email-configurations"
SMTP_PASSWORD = "Mailer-Secret-Canary-42"


def body(**fields: Any) -> dict[str, Any]:
    return {
        "name": "Office",
        "host": "smtp.acme.example.com",
        "port": 587,
        "security": "starttls",
        "username": "mailer",
        "password": SMTP_PASSWORD,
        "from_email": "office@acme.example.com",
        "from_name": "Acme Accounting",
        **fields,
    }


async def create(http: httpx.AsyncClient, tenant: Tenant, **fields: Any) -> dict[str, Any]:
    response = await http.post(URL, headers=tenant.headers, json=body(**fields))
    assert response.status_code == 201, response.text
    return dict(response.json())


async def test_owner_creates_reads_updates_and_deletes_a_configuration(
    client: httpx.AsyncClient, owner: Tenant
) -> None:
    created = await create(client, owner)
    assert created["has_password"] is True
    assert created["is_default"] is True  # the first is used at once
    assert created["security"] == "starttls"
    path = f"{URL}/{created['id']}"
    renamed = await client.patch(
        path,
        headers=owner.headers,
        # A new port is a new destination: the password comes with it.
        json={"name": "Main office", "port": 465, "security": "tls", "password": SMTP_PASSWORD},
    )
    assert renamed.status_code == 200, renamed.text
    assert (renamed.json()["name"], renamed.json()["port"]) == ("Main office", 465)
    assert renamed.json()["has_password"] is True  # untouched when not sent
    cleared = await client.patch(path, headers=owner.headers, json={"password": None})
    assert cleared.json()["has_password"] is False
    assert (await client.delete(path, headers=owner.headers)).status_code == 204
    assert (await client.get(path, headers=owner.headers)).status_code == 404
    assert (await client.get(URL, headers=owner.headers)).json()["total"] == 0


async def test_the_password_is_never_answered_back(
    client: httpx.AsyncClient, owner: Tenant, member: Tenant
) -> None:
    created = await create(client, owner)
    answers = [
        await client.get(URL, headers=owner.headers),
        await client.get(URL, headers=member.headers),
        await client.get(f"{URL}/{created['id']}", headers=member.headers),
        await client.patch(
            f"{URL}/{created['id']}", headers=owner.headers, json={"password": SMTP_PASSWORD}
        ),
        await client.post(URL, headers=owner.headers, json=body(name="Dup")),
        await client.get("/api/v1/events", headers=owner.headers),
    ]
    for response in answers:
        assert response.status_code in (200, 201), response.text
        assert SMTP_PASSWORD not in response.text
        assert "password_encrypted" not in response.text
    assert set(answers[0].json()["items"][0]) >= {"has_password", "username", "host"}


async def test_the_database_holds_only_ciphertext(
    app: Any, client: httpx.AsyncClient, owner: Tenant
) -> None:
    await create(client, owner)
    async with app.state.engine.connect() as conn:
        rows = (await conn.execute(text("SELECT * FROM email_configurations"))).all()
    assert len(rows) == 1
    assert SMTP_PASSWORD not in repr(rows)
    stored = rows[0]._mapping["password_encrypted"]
    assert stored.startswith("gAAAA")  # a Fernet token
    assert decrypt(stored, app.state.settings) == SMTP_PASSWORD


async def test_another_business_sees_none_of_them(
    client: httpx.AsyncClient, owner: Tenant, other_owner: Tenant
) -> None:
    created = await create(client, owner)
    path = f"{URL}/{created['id']}"
    assert (await client.get(URL, headers=other_owner.headers)).json()["total"] == 0
    for method, extra in (
        ("GET", {}),
        ("PATCH", {"json": {"name": "Stolen"}}),
        ("DELETE", {}),
        ("POST", {}),
    ):
        url = f"{path}/test" if method == "POST" else path
        response = await client.request(method, url, headers=other_owner.headers, **extra)
        assert response.status_code == 404, (method, response.text)
    assert (await client.get(path, headers=owner.headers)).json()["name"] == "Office"


async def test_members_read_but_only_owners_write(
    client: httpx.AsyncClient, owner: Tenant, member: Tenant
) -> None:
    created = await create(client, owner)
    path = f"{URL}/{created['id']}"
    assert (await client.get(path, headers=member.headers)).status_code == 200
    writes = [
        await client.post(URL, headers=member.headers, json=body(name="Mine")),
        await client.patch(path, headers=member.headers, json={"host": "evil.example.com"}),
        await client.delete(path, headers=member.headers),
        await client.post(f"{path}/test", headers=member.headers),
    ]
    assert [r.status_code for r in writes] == [403] * 4
    assert (await client.get(path, headers=owner.headers)).json()["host"] == created["host"]


async def test_one_default_per_business_and_names_are_unique(
    client: httpx.AsyncClient, owner: Tenant, other_owner: Tenant
) -> None:
    first = await create(client, owner)
    second = await create(client, owner, name="Backup")
    assert second["is_default"] is False
    third = await create(client, owner, name="New", is_default=True)
    assert third["is_default"] is True
    await create(client, other_owner)  # its own default, independent of ours
    listed = (await client.get(URL, headers=owner.headers)).json()["items"]
    assert [c["id"] for c in listed if c["is_default"]] == [third["id"]]
    moved = await client.patch(
        f"{URL}/{first['id']}", headers=owner.headers, json={"is_default": True}
    )
    assert moved.json()["is_default"] is True
    listed = (await client.get(URL, headers=owner.headers)).json()["items"]
    assert [c["id"] for c in listed if c["is_default"]] == [first["id"]]
    duplicate = await client.post(URL, headers=owner.headers, json=body(name="Backup"))
    assert duplicate.status_code == 409
    renamed = await client.patch(
        f"{URL}/{first['id']}", headers=owner.headers, json={"name": "New"}
    )
    assert renamed.status_code == 409


async def test_invalid_input_and_unknown_fields_are_refused(
    client: httpx.AsyncClient, owner: Tenant
) -> None:
    for bad in (
        {"security": "ssl"},
        {"port": 0},
        {"port": 70000},
        {"host": "smtp example.com"},
        {"from_email": "not-an-address"},
        {"password_encrypted": "gAAAA..."},
        {"business_id": str(uuid.uuid4())},
    ):
        response = await client.post(URL, headers=owner.headers, json=body(**bad))
        assert response.status_code == 422, (bad, response.text)
    assert (await client.get(URL, headers=owner.headers)).json()["total"] == 0


# -- POST /{id}/test ------------------------------------------------------------------


@pytest.fixture
async def mail_server() -> Any:
    async with FakeSmtpServer(username="mailer", password=SMTP_PASSWORD) as server:
        yield server


async def _test(http: httpx.AsyncClient, tenant: Tenant, config: dict[str, Any]) -> Any:
    response = await http.post(f"{URL}/{config['id']}/test", headers=tenant.headers)
    assert response.status_code == 200, response.text
    return response.json()


async def test_the_right_password_sends_a_test_message_to_the_caller(
    client: httpx.AsyncClient, owner: Tenant, mail_server: FakeSmtpServer
) -> None:
    config = await create(client, owner, host="127.0.0.1", port=mail_server.port, security="none")
    result = await _test(client, owner, config)
    assert result["ok"] is True, result
    assert "250" in result["server_reply"] or "queued" in result["server_reply"]
    [message] = await mail_server.wait_for(1)
    assert message.login == "mailer"
    assert message.rcpt_tos == (owner.email,)
    assert message.message["From"] == "Acme Accounting <office@acme.example.com>"
    assert "Office" in message.message["Subject"]


async def test_a_wrong_password_fails_at_the_auth_stage(
    client: httpx.AsyncClient, owner: Tenant, mail_server: FakeSmtpServer
) -> None:
    config = await create(
        client,
        owner,
        host="127.0.0.1",
        port=mail_server.port,
        security="none",
        password="Wrong-Password-1",
    )
    result = await _test(client, owner, config)
    assert (result["ok"], result["stage"]) == (False, "auth"), result
    assert "Wrong-Password-1" not in str(result)
    assert mail_server.messages == []
    attempts = mail_server.auth_attempts  # the client tries each mechanism it shares
    assert attempts
    assert not any(a.success for a in attempts)


async def test_an_unreachable_server_fails_at_connect_quickly(
    client: httpx.AsyncClient, owner: Tenant
) -> None:
    config = await create(client, owner, host="127.0.0.1", port=unused_port(), security="none")
    started = time.monotonic()
    result = await _test(client, owner, config)
    assert (result["ok"], result["stage"]) == (False, "connect"), result
    assert time.monotonic() - started < 5


async def test_a_server_that_never_answers_gives_up_within_the_timeout(
    app: Any, client: httpx.AsyncClient, owner: Tenant
) -> None:
    async with silent_server() as port:
        config = await create(client, owner, host="127.0.0.1", port=port, security="none")
        settings = app.state.settings
        app.state.settings = settings.model_copy(update={"SMTP_TEST_TIMEOUT_SECONDS": 0.5})
        try:
            started = time.monotonic()
            result = await _test(client, owner, config)
        finally:
            app.state.settings = settings
    assert (result["ok"], result["stage"]) == (False, "connect"), result
    assert "0.5" in result["error"]
    assert time.monotonic() - started < 3


# -- key rotation ---------------------------------------------------------------------


async def _stored_config(app: Any, settings: Settings) -> uuid.UUID:
    """A configuration straight into the table, its password encrypted under `settings`."""
    async with app.state.sessionmaker() as session:
        business = (await session.execute(text("SELECT id FROM businesses LIMIT 1"))).scalar_one()
        config = EmailConfiguration(
            business_id=uuid.UUID(str(business)),
            name=f"Rotated {uuid.uuid4().hex[:6]}",
            host="smtp.example.com",
            port=587,
            security="starttls",
            from_email="office@example.com",
            password_encrypted=encrypt(SMTP_PASSWORD, settings),
        )
        session.add(config)
        await session.commit()
        return config.id


async def _stored_token(app: Any, config_id: uuid.UUID) -> str:
    async with app.state.sessionmaker() as session:
        config = await session.get(EmailConfiguration, config_id)
        assert config is not None
        return str(config.password_encrypted)


async def test_rotating_keys_reencrypts_under_the_new_key(
    app: Any, owner: Tenant, settings: Settings
) -> None:
    key_a, key_b = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    only_a = settings.model_copy(update={"ENCRYPTION_KEYS": key_a})
    b_then_a = settings.model_copy(update={"ENCRYPTION_KEYS": f"{key_b},{key_a}"})
    only_b = settings.model_copy(update={"ENCRYPTION_KEYS": key_b})
    config_id = await _stored_config(app, only_a)
    with pytest.raises(SecretUnreadable):
        decrypt(await _stored_token(app, config_id), only_b)

    report = await rotate_stored_secrets(app.state.sessionmaker, b_then_a)
    assert (report.rotated, report.current) == (1, 0)
    again = await rotate_stored_secrets(app.state.sessionmaker, b_then_a)
    assert (again.rotated, again.current) == (0, 1)  # idempotent

    token = await _stored_token(app, config_id)
    assert decrypt(token, only_b) == SMTP_PASSWORD
    with pytest.raises(SecretUnreadable):
        decrypt(token, only_a)


async def test_the_rotate_keys_command_prints_how_many(
    app: Any, owner: Tenant, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cli import app as cli_app
    from core.settings import get_settings

    key_a, key_b = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    config_id = await _stored_config(app, settings.model_copy(update={"ENCRYPTION_KEYS": key_a}))
    monkeypatch.setenv("DATABASE_URL", settings.DATABASE_URL)
    monkeypatch.setenv("SECRET_KEY", settings.SECRET_KEY)
    monkeypatch.setenv("ENCRYPTION_KEYS", f"{key_b},{key_a}")
    get_settings.cache_clear()
    try:
        first = await asyncio.to_thread(CliRunner().invoke, cli_app, ["rotate-keys"])
        second = await asyncio.to_thread(CliRunner().invoke, cli_app, ["rotate-keys"])
    finally:
        get_settings.cache_clear()
    assert first.exit_code == 0, first.output
    assert "Re-encrypted 1 stored secrets" in first.output
    assert "Re-encrypted 0 stored secrets" in second.output
    only_b = settings.model_copy(update={"ENCRYPTION_KEYS": key_b})
    assert decrypt(await _stored_token(app, config_id), only_b) == SMTP_PASSWORD
