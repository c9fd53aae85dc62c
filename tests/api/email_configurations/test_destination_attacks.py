"""Attacks through a business's own SMTP settings, as an owner of an open-registration
account would try them: make the platform connect to its own network (loopback, private
ranges, cloud metadata, the stack's services), read a service's banner back through the
test answer, or move the stored password to a server of the attacker's choosing.

The platform runs here as production does: public addresses only, SMTP ports only
(ALLOW_PRIVATE_DESTINATIONS off, TENANT_SMTP_PORTS at its default)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from core.models import EmailConfiguration
from tests.conftest import Tenant, count_rows, settings_changed
from tests.fakes.smtp import FakeSmtpServer

URL = "/api/v1/email-configurations"
PASSWORD = "Owner-Smtp-Pass-Canary-31"
SECRET_WORDS = "SECRET-BANNER-do-not-show"
# Public addresses (example.com's): saved as literals, never connected to by these tests.
PUBLIC = "93.184.215.14"
OTHER_PUBLIC = "93.184.215.15"


def body(**fields: Any) -> dict[str, Any]:
    return {
        "name": f"Office {uuid.uuid4().hex[:6]}",
        "host": PUBLIC,  # overridden by each attack
        "port": 587,
        "security": "starttls",
        "username": "mailer",
        "password": PASSWORD,
        "from_email": "office@acme.example.com",
        **fields,
    }


@pytest.fixture
def public_only(app: Any) -> Iterator[None]:
    """The app as production runs it: tenant destinations on the public internet only."""
    with settings_changed(
        app, ALLOW_PRIVATE_DESTINATIONS=False, TENANT_SMTP_PORTS="25,465,587,2525"
    ):
        yield


class Listener:
    """A TCP server on loopback that counts who connects and, when it has words, says
    them: the banner of a service that is not an SMTP server."""

    def __init__(self, banner: bytes | None) -> None:
        self.banner = banner
        self.connections = 0
        self.port = 0

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            if self.banner:
                writer.write(self.banner)
                while await reader.readline():  # every command gets the same refusal
                    writer.write(f"500 5.5.1 {SECRET_WORDS} unknown command\r\n".encode())
                    await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()


@asynccontextmanager
async def listening(banner: bytes | None = None) -> AsyncIterator[Listener]:
    listener = Listener(banner)
    server = await asyncio.start_server(listener._serve, "127.0.0.1", 0)
    listener.port = server.sockets[0].getsockname()[1]
    async with server:
        yield listener


async def _stored_hosts(app: Any) -> list[tuple[str, int]]:
    async with app.state.sessionmaker() as session:
        rows = await session.execute(select(EmailConfiguration.host, EmailConfiguration.port))
        return [(host, port) for host, port in rows.all()]


# -- SSRF: where a tenant may point the platform ------------------------------------------


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1",  # loopback: the API's own Redis, Temporal, database
        "localhost",  # a name: refused by what it resolves to
        "[::1]",
        "10.0.0.5",  # private ranges: the stack's network
        "192.168.1.10",
        "169.254.169.254",  # link-local: cloud metadata and its credentials
        "100.64.0.1",  # carrier-grade NAT
        "0.0.0.0",
        "224.0.0.1",  # multicast
        "[::ffff:127.0.0.1]",  # IPv6 forms that embed a private IPv4 address
        "[64:ff9b::a00:5]",
        "[2002:7f00:1::]",
        "[fe80::1]",
        "[fd00::1]",
    ],
)
async def test_a_private_smtp_host_is_refused_at_save_and_nothing_is_stored(
    app: Any, client: httpx.AsyncClient, owner: Tenant, public_only: None, host: str
) -> None:
    response = await client.post(URL, headers=owner.headers, json=body(host=host))
    assert response.status_code == 422, response.text
    assert "public internet" in response.json()["detail"]
    assert await count_rows(app, "email_configurations") == 0


@pytest.mark.parametrize("port", [6379, 5432, 7233, 22, 80, 8000])
async def test_a_port_that_is_not_smtp_is_refused_naming_the_setting(
    app: Any, client: httpx.AsyncClient, owner: Tenant, public_only: None, port: int
) -> None:
    response = await client.post(URL, headers=owner.headers, json=body(port=port))
    assert response.status_code == 422, response.text
    assert "TENANT_SMTP_PORTS" in response.json()["detail"]
    assert await count_rows(app, "email_configurations") == 0


async def test_moving_a_saved_server_to_a_private_host_is_refused_and_changes_nothing(
    app: Any, client: httpx.AsyncClient, owner: Tenant, public_only: None
) -> None:
    created = await client.post(URL, headers=owner.headers, json=body(host=PUBLIC))
    assert created.status_code == 201, created.text
    path = f"{URL}/{created.json()['id']}"
    for change in ({"host": "10.1.2.3"}, {"host": "localhost"}, {"port": 6379}):
        moved = await client.patch(path, headers=owner.headers, json={**change, "password": "x1"})
        assert moved.status_code == 422, (change, moved.text)
    assert await _stored_hosts(app) == [(PUBLIC, 587)]


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
async def test_a_stored_private_host_is_refused_again_when_connecting(
    app: Any, client: httpx.AsyncClient, owner: Tenant, public_only: None, host: str
) -> None:
    """A name that resolved to a public address when saved and to a private one later (DNS
    rebinding), or a row saved before the rule: the connection itself is refused."""
    async with listening(b"220 internal service ready\r\n") as listener:
        created = await client.post(URL, headers=owner.headers, json=body(port=587))
        assert created.status_code == 201, created.text
        async with app.state.sessionmaker() as session:
            config = await session.get(EmailConfiguration, uuid.UUID(created.json()["id"]))
            assert config is not None
            config.host, config.port = host, listener.port
            await session.commit()
        with settings_changed(app, TENANT_SMTP_PORTS="*"):
            response = await client.post(f"{URL}/{config.id}/test", headers=owner.headers)
    assert response.status_code == 200, response.text
    result = response.json()
    assert (result["ok"], result["stage"]) == (False, "connect"), result
    assert "public internet" in result["error"]
    assert listener.connections == 0


async def test_the_test_answer_never_carries_what_the_server_said(
    client: httpx.AsyncClient, owner: Tenant
) -> None:
    """Even where private servers are allowed (development), a service's banner and
    replies do not come back: only the stage and the SMTP code."""
    banner = f"220 redis-internal {SECRET_WORDS} ready\r\n".encode()
    async with listening(banner) as listener:
        created = await client.post(
            URL,
            headers=owner.headers,
            json=body(host="127.0.0.1", port=listener.port, security="none"),
        )
        assert created.status_code == 201, created.text
        response = await client.post(f"{URL}/{created.json()['id']}/test", headers=owner.headers)
    result = response.json()
    assert result["ok"] is False, result
    assert listener.connections == 1
    assert SECRET_WORDS not in response.text
    assert "redis" not in response.text
    assert "500" in result["error"]


# -- a stored password never follows a changed destination --------------------------------


@pytest.mark.parametrize(
    "change",
    [{"host": OTHER_PUBLIC}, {"port": 465}, {"username": "someone-else"}],
    ids=["host", "port", "username"],
)
async def test_changing_where_the_password_goes_needs_the_password_again(
    app: Any, client: httpx.AsyncClient, owner: Tenant, change: dict[str, Any]
) -> None:
    created = await client.post(URL, headers=owner.headers, json=body(host=PUBLIC))
    path = f"{URL}/{created.json()['id']}"
    before = await _stored_row(app, created.json()["id"])

    refused = await client.patch(path, headers=owner.headers, json=change)
    assert refused.status_code == 422, refused.text
    assert "password" in refused.json()["detail"]
    assert await _stored_row(app, created.json()["id"]) == before

    with_password = await client.patch(
        path, headers=owner.headers, json={**change, "password": "A-New-Pass-1"}
    )
    assert with_password.status_code == 200, with_password.text
    forgotten = await client.patch(
        path, headers=owner.headers, json={"host": PUBLIC, "password": None}
    )
    assert forgotten.status_code == 200, forgotten.text
    assert forgotten.json()["has_password"] is False


async def test_a_moved_server_never_receives_the_stored_password(
    client: httpx.AsyncClient, owner: Tenant
) -> None:
    """The attack: point a saved configuration at your own server, then ask /test to log
    in there with the stored password."""
    async with (
        FakeSmtpServer(username="mailer", password=PASSWORD) as real,
        FakeSmtpServer(username="mailer", password="whatever") as attacker,
    ):
        created = await client.post(
            URL,
            headers=owner.headers,
            json=body(host="127.0.0.1", port=real.port, security="none"),
        )
        path = f"{URL}/{created.json()['id']}"
        moved = await client.patch(path, headers=owner.headers, json={"port": attacker.port})
        assert moved.status_code == 422, moved.text
        tested = await client.post(f"{path}/test", headers=owner.headers)
        assert tested.json()["ok"] is True, tested.text
    assert attacker.auth_attempts == []
    assert [a.success for a in real.auth_attempts] == [True]


async def test_renaming_or_changing_the_sender_keeps_the_password(
    client: httpx.AsyncClient, owner: Tenant
) -> None:
    created = await client.post(URL, headers=owner.headers, json=body())
    path = f"{URL}/{created.json()['id']}"
    renamed = await client.patch(
        path,
        headers=owner.headers,
        json={"name": "Renamed", "from_email": "desk@acme.example.com", "host": PUBLIC},
    )
    assert renamed.status_code == 200, renamed.text
    assert renamed.json()["has_password"] is True


async def _stored_row(app: Any, config_id: str) -> tuple[Any, ...]:
    async with app.state.sessionmaker() as session:
        config = await session.get(EmailConfiguration, uuid.UUID(config_id))
        assert config is not None
        return (config.host, config.port, config.username, config.password_encrypted)
