"""Header injection through names: a line break in a name that ends up in an email header
(a From display name, the business name the From falls back to, a subject) would end the
header and start another (a Bcc to anyone), or make the send fail after it was claimed.
Names are one line at save; rows from before are cleaned when the message is built."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from core.models import EmailConfiguration
from tests.conftest import Tenant
from tests.fakes.smtp import FakeSmtpServer

INJECTED = "Acme Accounting\r\nBcc: victim@elsewhere.example"


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        (
            "POST",
            "/api/v1/email-configurations",
            {"name": "Office", "host": "127.0.0.1", "from_email": "o@acme.example.com"},
        ),
        ("POST", "/api/v1/sender-identities", {"channel": "email", "from_email": "o@acme.example"}),
        ("PATCH", "/api/v1/business", {}),
        ("POST", "/api/v1/clients", {}),
        ("POST", "/api/v1/templates", {"body": "Hi"}),
    ],
    ids=["email-configuration", "sender-identity", "business", "client", "template"],
)
@pytest.mark.parametrize("bad", [INJECTED, "Acme\nAccounting", "Acme\tAccounting", "Acme\x00"])
async def test_a_name_with_a_line_break_or_control_character_is_422(
    client: httpx.AsyncClient, owner: Tenant, method: str, path: str, body: dict[str, Any], bad: str
) -> None:
    field = {"email-configurations": "from_name", "sender-identities": "from_name"}.get(
        path.rsplit("/", 1)[-1], "name"
    )
    response = await client.request(method, path, headers=owner.headers, json={**body, field: bad})
    assert response.status_code == 422, response.text
    assert "one line" in response.text or "NUL" in response.text
    business = await client.get("/api/v1/business", headers=owner.headers)
    assert "victim" not in business.text


async def test_a_stored_name_with_a_line_break_cannot_inject_a_header(
    app: Any, client: httpx.AsyncClient, owner: Tenant
) -> None:
    """A row from before the rule: /test answers (no 500), the message goes out with the
    name on one line, and no Bcc header reaches the server."""
    async with FakeSmtpServer() as server:
        created = await client.post(
            "/api/v1/email-configurations",
            headers=owner.headers,
            json={
                "name": "Office",
                "host": "127.0.0.1",
                "port": server.port,
                "security": "none",
                "from_email": "office@acme.example.com",
            },
        )
        assert created.status_code == 201, created.text
        async with app.state.sessionmaker() as session:
            config = await session.get(EmailConfiguration, uuid.UUID(created.json()["id"]))
            assert config is not None
            config.from_name = INJECTED
            await session.commit()
        tested = await client.post(
            f"/api/v1/email-configurations/{config.id}/test", headers=owner.headers
        )
        assert tested.status_code == 200, tested.text
        assert tested.json()["ok"] is True, tested.text
        [message] = await server.wait_for(1)
    assert message.rcpt_tos == (owner.email,)
    assert message.message["Bcc"] is None
    assert "victim" in message.message["From"]  # kept as words of the display name
    assert "\n" not in message.message["From"]
