"""The whole REST API fuzzed from its own OpenAPI schema with schemathesis: whatever a
caller sends, no answer is a 5xx and every answer matches what the schema documents.

Authenticated as a business owner, with a client, a template, a sender identity, a staff
member and a reminder in place, so some generated ids point at real rows. Temporal is
not running (the settings point at 127.0.0.1:1): routes that need it answer their
documented 503, which is an answer, not a failure.

schemathesis drives the app synchronously, on an event loop thread of its own, so this
module builds its own app instead of sharing the session's async `app` fixture, and
seeds it on a loop of its own too.
"""

from __future__ import annotations

import itertools
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import schemathesis
from anyio.from_thread import start_blocking_portal
from sqlalchemy import text

from core.settings import Settings
from tests.builders.bounces import BOUNCE_SECRET
from tests.conftest import PASSWORD, TEST_SECRET
from tests.fakes.smtp import unused_port

# Generated cases per operation, besides the coverage phase's boundary cases: the module
# takes about a minute on two cores. FUZZ_MAX_EXAMPLES=200 digs deeper, locally.
MAX_EXAMPLES = int(os.environ.get("FUZZ_MAX_EXAMPLES", "15"))

# Operations not fuzzed, and why.
SKIPPED_PATHS = [
    # Twilio's callbacks: a request without Twilio's signature is refused before anything
    # is read (tests/api/webhooks/test_webhooks.py covers them), so fuzzing would only see
    # the 403.
    "/api/v1/webhooks/twilio/status",
    "/api/v1/webhooks/twilio/inbound",
]

# Path parameters that should often name a seeded row instead of a random string.
SEEDED_PARAMETERS = (
    "client_id",
    "template_id",
    "identity_id",
    "config_id",
    "field_id",
    "member_id",
    "reminder_id",
    "reply_id",
)

# Operations that need Temporal (or report it, like /readyz): without it they answer 503.
TEMPORAL_OPERATIONS = [
    "GET /readyz",
    "POST /api/v1/reminders",
    "PATCH /api/v1/reminders/{reminder_id}",
    "DELETE /api/v1/reminders/{reminder_id}",
    "POST /api/v1/reminders/{reminder_id}/trigger",
    "POST /api/v1/reminders/{reminder_id}/pause",
    "POST /api/v1/reminders/{reminder_id}/resume",
    "POST /api/v1/reminders/{reminder_id}/complete",
    "GET /api/v1/reminders/{reminder_id}/history",
    "POST /api/v1/reminders/{reminder_id}/clients/{client_id}/done",
    "POST /api/v1/notifications/{delivery_id}/resend",
    "POST /api/v1/admin/reconcile",
]
ANSWERS = ["2xx", "3xx", "4xx"]

CONFIG = schemathesis.Config.from_dict(
    {
        "generation": {
            "max-examples": MAX_EXAMPLES,
            # The same cases on every run, so CI is stable; no example database on disk.
            "deterministic": True,
            "database": "none",
        },
        "operations": [
            {
                # Temporal is not running here, so these answer their documented 503.
                "include-name": TEMPORAL_OPERATIONS,
                "checks": {"not_a_server_error": {"expected-statuses": [*ANSWERS, "503"]}},
            }
        ],
        "checks": {
            "enabled": False,
            "not_a_server_error": {"enabled": True},
            "status_code_conformance": {"enabled": True},
            "content_type_conformance": {"enabled": True},
            "response_schema_conformance": {"enabled": True},
            "response_headers_conformance": {"enabled": True},
        },
    }
)


def _openapi() -> dict[str, Any]:
    # Only the document is read from this app; the fuzzed calls go to the `fuzz` app,
    # which is built the same way on the session's database.
    from api.main import create_app

    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        ENV="testing",
        SECRET_KEY=TEST_SECRET,
        DATABASE_URL="sqlite+aiosqlite://",
        REDIS_URL=None,
    )
    return create_app(settings).openapi()


# The bounce webhook's body is a raw email (tests/builders/bounces.py): bytes as they come.
schemathesis.serializer.alias("message/rfc822", "application/octet-stream")

schema = schemathesis.openapi.from_dict(_openapi(), config=CONFIG).exclude(path=SKIPPED_PATHS)


@dataclass
class Fuzz:
    app: Any
    headers: dict[str, str]
    ids: dict[str, str]


async def _seed(settings: Settings) -> tuple[dict[str, str], dict[str, str]]:
    """An owner with a client, template, sender identity, staff member and reminder."""
    from api.main import create_app

    app = create_app(settings)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://test/api/v1"
    ) as http:
        registered = await http.post(
            "/auth/register",
            json={
                "email": f"fuzz-{uuid.uuid4().hex[:8]}@example.com",
                "password": PASSWORD,
                "full_name": "Fuzz Owner",
                "business_name": "Fuzz & Co",
                "timezone": "Europe/London",
            },
        )
        assert registered.status_code == 201, registered.text
        body = registered.json()
        headers = {"Authorization": f"Bearer {body['access_token']}"}

        async def created(path: str, payload: dict[str, Any], key: str = "id") -> str:
            response = await http.post(path, headers=headers, json=payload)
            assert response.status_code == 201, response.text
            return str(response.json()[key])

        ids = {
            "client_id": await created(
                "/clients",
                {"name": "Bob Builder", "email": "bob@example.com", "phone": "+447911123456"},
            ),
            "template_id": await created(
                "/templates", {"name": "VAT", "subject": "VAT", "body": "Hi {{ client.name }}"}
            ),
            "identity_id": await created(
                "/sender-identities",
                {"channel": "email", "from_email": "office@example.com", "from_name": "Office"},
            ),
            # A closed port: its `/test` answers `ok: false` at once.
            "config_id": await created(
                "/email-configurations",
                {
                    "name": "Office",
                    "host": "127.0.0.1",
                    "port": unused_port(),
                    "security": "none",
                    "from_email": "office@example.com",
                },
            ),
            "field_id": await created(
                "/business/client-fields",
                {"name": "vat_number", "label": "VAT number", "type": "text"},
            ),
            "member_id": await created(
                "/business/members",
                {
                    "email": f"staff-{uuid.uuid4().hex[:8]}@example.com",
                    "full_name": "Staff Person",
                    "password": PASSWORD,
                },
                key="user_id",
            ),
        }
    ids["reminder_id"] = await _add_reminder(app, uuid.UUID(body["business"]["id"]), ids)
    ids["reply_id"] = await _add_reply(app, uuid.UUID(body["business"]["id"]), ids)
    await app.state.engine.dispose()
    if app.state.redis is not None:
        await app.state.redis.aclose()
    return headers, ids


async def _add_reminder(app: Any, business_id: uuid.UUID, ids: dict[str, str]) -> str:
    """A reminder row straight into the table: creating one through the API needs Temporal."""
    from core.models import Reminder
    from workflows.contracts import workflow_id_for

    reminder_id = uuid.uuid4()
    async with app.state.sessionmaker() as session:
        session.add(
            Reminder(
                id=reminder_id,
                business_id=business_id,
                title="VAT return",
                type="deadline",
                client_ids=[ids["client_id"]],
                template_id=uuid.UUID(ids["template_id"]),
                channels=["email"],
                timezone="Europe/London",
                schedule={"kind": "once", "at": datetime(2030, 1, 1, 9, tzinfo=UTC).isoformat()},
                workflow_id=workflow_id_for(str(reminder_id)),
            )
        )
        await session.commit()
    return str(reminder_id)


async def _add_reply(app: Any, business_id: uuid.UUID, ids: dict[str, str]) -> str:
    """A reply of the client to the reminder, as an inbound SMS leaves it."""
    from core.reply_models import Reply

    reply = Reply(
        business_id=business_id,
        client_id=uuid.UUID(ids["client_id"]),
        channel="sms",
        from_number="+447911123456",
        body="Sent it",
        reminder_id=uuid.UUID(ids["reminder_id"]),
    )
    async with app.state.sessionmaker() as session:
        session.add(reply)
        await session.commit()
    return str(reply.id)


async def _truncate(database_url: str) -> None:
    from core import (
        api_key_models,  # noqa: F401  (its tables are on Base too)
        client_field_models,  # noqa: F401  (its tables are on Base too)
        invitation_models,  # noqa: F401  (its tables are on Base too)
        progress_models,  # noqa: F401  (its tables are on Base too)
        reply_models,  # noqa: F401  (its tables are on Base too)
        webhook_models,  # noqa: F401  (its tables are on Base too)
    )
    from core.db import create_engine
    from core.models import Base

    engine = create_engine(database_url)
    names = [t.name for t in reversed(Base.metadata.sorted_tables)]
    async with engine.begin() as conn:
        if database_url.startswith("postgresql"):
            await conn.execute(text(f"TRUNCATE {', '.join(names)} CASCADE"))
        else:
            for name in names:
                await conn.execute(text(f"DELETE FROM {name}"))
    await engine.dispose()


@pytest.fixture(autouse=True)
def _clean_tables() -> None:
    """Replaces conftest's per-test truncation: the seeded rows serve every operation of
    this module, and `fuzz` empties the tables when the module is done."""


@pytest.fixture(scope="module")
def fuzz(settings: Settings) -> Iterator[Fuzz]:
    from api.main import create_app

    with start_blocking_portal() as portal:
        headers, ids = portal.call(_seed, settings)
    # One caller sends every case: the throttles are not what is being fuzzed here.
    unthrottled = settings.model_copy(
        update={
            "API_RATE_LIMIT": "1000000/minute",
            "LOGIN_MAX_FAILURES_PER_IP": 1_000_000,
            # A fuzzed host may not answer: each `/test` of it gives up quickly.
            "SMTP_TEST_TIMEOUT_SECONDS": 1.0,
            # The bounce webhook reads what it is sent (its secret is in every case).
            "BOUNCE_WEBHOOK_SECRET": BOUNCE_SECRET,
        }
    )
    headers = {**headers, "X-Bounce-Secret": BOUNCE_SECRET}
    yield Fuzz(app=create_app(unthrottled), headers=headers, ids=ids)
    with start_blocking_portal() as portal:
        portal.call(_truncate, settings.DATABASE_URL)


_cases = itertools.count()


def _point_at_seeded_rows(case: schemathesis.Case, fuzz: Fuzz) -> None:
    # Three cases in four use a real id, so bodies get past the 404 and are validated; the
    # fourth keeps the generated one. The cases come in a fixed order, so runs repeat.
    if next(_cases) % 4 == 0:
        return
    for name in case.path_parameters or {}:
        if name in SEEDED_PARAMETERS:
            case.path_parameters[name] = fuzz.ids[name]


@schema.parametrize()
def test_no_input_answers_5xx_or_breaks_the_schema(case: schemathesis.Case, fuzz: Fuzz) -> None:
    _point_at_seeded_rows(case, fuzz)
    case.call_and_validate(app=fuzz.app, headers=fuzz.headers)
