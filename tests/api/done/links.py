"""Done links for tests: a reminder and a client to point one at, the link itself (signed
with the app's SECRET_KEY, as a message would carry it) and what a client attaches."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from core.done_links import DONE_PATH, DoneLink, make_done_token
from core.settings import Settings
from tests.builders.api import add_client
from tests.builders.rows import add_reminder_row
from tests.conftest import Tenant

# The one occurrence of reminder_for_a_client's reminder (in the future: its next period).
DUE = datetime(2031, 1, 7, 9, 0, tzinfo=UTC)
PERIOD = "2031-01-07T09:00:00Z"
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


def link_path(
    settings: Settings,
    reminder_id: str,
    client_id: str,
    period: str = PERIOD,
    expires_in: timedelta = timedelta(days=30),
) -> str:
    expires = datetime.now(UTC) + expires_in
    link = DoneLink(uuid.UUID(reminder_id), uuid.UUID(client_id), period, expires)
    return DONE_PATH + make_done_token(settings.SECRET_KEY, link)


async def reminder_for_a_client(
    http: httpx.AsyncClient, app: Any, tenant: Tenant, **fields: Any
) -> tuple[str, str]:
    """A client and a reminder row (no workflow) that targets them: (reminder, client)."""
    client_id = await add_client(http, tenant)
    schedule = {"kind": "once", "at": DUE.isoformat()}
    fields = {"schedule": schedule, "timezone": "Europe/London", **fields}
    reminder_id = await add_reminder_row(app, tenant, client_ids=[client_id], **fields)
    return reminder_id, client_id


def pdf(name: str = "receipt.pdf", data: bytes = PDF) -> tuple[str, tuple[str, bytes, str]]:
    return ("files", (name, data, "application/pdf"))


def stored_files(settings: Settings) -> set[Path]:
    return {p for p in Path(settings.UPLOAD_DIR).rglob("*") if p.is_file()}


async def client_states(http: httpx.AsyncClient, tenant: Tenant, reminder_id: str) -> Any:
    response = await http.get(
        f"/api/v1/reminders/{reminder_id}/clients",
        headers=tenant.headers,
        params={"period": PERIOD},
    )
    assert response.status_code == 200, response.text
    return response.json()
