"""Route access (tests/api/security): every route's rule, business A with one of everything."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import delete

from core.crypto import encrypt
from core.models import Delivery, TwilioCredentials
from core.progress_models import ClientDocument
from core.reply_models import Reply
from core.storage import new_key, storage_from_settings
from core.types import utcnow
from tests.builders.api_keys import make_key
from tests.conftest import (
    PASSWORD,
    Tenant,
    add_member,
    register_tenant,
    superuser_headers,
)
from tests.fakes.smtp import unused_port
from tests.fakes.twilio_api import FakeTwilio
from tests.seed import (
    Seeded,
    add_reminder,
)

# -- route access (tests/api/security): every route's rule, business A with one of everything

# The password of A's email configuration (never in any answer:
# tests/api/security/test_leaks.py).
EMAIL_CONFIG_PASSWORD = "smtp-config-pass-leak-canary"
# A's and B's Twilio auth tokens (32 hex characters, as Twilio's; never in any answer).
TWILIO_CONFIG_TOKEN = "dec0ded0" * 4
RIVAL_TWILIO_TOKEN = "0ddba11e" * 4
TWILIO_PATH = "/api/v1/business/twilio"
TWILIO_ACCOUNT = "AC" + "ab" * 16

# Who may call a route:
PUBLIC = "public"  # no login: the auth routes themselves
SIGNED = "signed"  # a signature or signed token stands in for a login
USER = "user"  # any signed-in account, business or not: the caller's own account
BUSINESS = "business"  # any member of the business (owner or member)
OWNER_ONLY = "owner-only"  # the business's owners
PEOPLE_OWNERS = "owners, signed in"  # the business's owners as people: an API key gets 401
ADMIN = "admin"  # superusers only

TEMPORAL_DOWN = 503  # an authorized call that needs Temporal, which is not running here


@dataclass(frozen=True)
class Rule:
    category: str
    ok: int  # what an authorized caller gets (with the body below)
    # What B's owner gets on a route without a path id (acting on B, its own business)
    # when that differs from `ok`: a body naming A's objects is refused like unknown ids.
    other: int | None = None


TABLE: dict[tuple[str, str], Rule] = {
    # auth: called with an empty body, so every caller gets the same 422
    ("POST", "/api/v1/auth/register"): Rule(PUBLIC, 422),
    ("POST", "/api/v1/auth/token"): Rule(PUBLIC, 422),
    ("POST", "/api/v1/auth/refresh"): Rule(PUBLIC, 422),
    ("POST", "/api/v1/auth/logout"): Rule(PUBLIC, 422),
    ("POST", "/api/v1/auth/password-reset"): Rule(PUBLIC, 422),
    ("POST", "/api/v1/auth/forgot-password"): Rule(PUBLIC, 422),
    ("POST", "/api/v1/invitations/accept"): Rule(PUBLIC, 422),
    # Twilio's callbacks without X-Twilio-Signature, an unsubscribe link that is not signed
    ("POST", "/api/v1/webhooks/twilio/status"): Rule(SIGNED, 403),
    ("POST", "/api/v1/webhooks/twilio/inbound"): Rule(SIGNED, 403),
    # Bounces: BOUNCE_WEBHOOK_SECRET is not set here, so the route is not there
    ("POST", "/api/v1/webhooks/email/bounce"): Rule(SIGNED, 404),
    ("GET", "/api/v1/unsubscribe/{token}"): Rule(SIGNED, 404),
    ("POST", "/api/v1/unsubscribe/{token}"): Rule(SIGNED, 404),
    ("GET", "/api/v1/done/{token}"): Rule(SIGNED, 404),
    ("POST", "/api/v1/done/{token}"): Rule(SIGNED, 404),
    # the caller's own account
    ("GET", "/api/v1/users/me"): Rule(USER, 200),
    ("PATCH", "/api/v1/users/me"): Rule(USER, 200),
    # business and staff
    ("GET", "/api/v1/business"): Rule(BUSINESS, 200),
    ("PATCH", "/api/v1/business"): Rule(OWNER_ONLY, 200),
    ("GET", "/api/v1/business/members"): Rule(BUSINESS, 200),
    ("POST", "/api/v1/business/members"): Rule(OWNER_ONLY, 201),
    ("DELETE", "/api/v1/business/members/{member_id}"): Rule(OWNER_ONLY, 204),
    # staff invitations by email: owners invite, list the pending ones, withdraw them
    ("POST", "/api/v1/business/invitations"): Rule(OWNER_ONLY, 201),
    ("GET", "/api/v1/business/invitations"): Rule(OWNER_ONLY, 200),
    ("DELETE", "/api/v1/business/invitations/{invitation_id}"): Rule(OWNER_ONLY, 204),
    # the business's own client fields: staff read them, owners define and delete them
    ("GET", "/api/v1/business/client-fields"): Rule(BUSINESS, 200),
    ("POST", "/api/v1/business/client-fields"): Rule(OWNER_ONLY, 201),
    ("DELETE", "/api/v1/business/client-fields/{field_id}"): Rule(OWNER_ONLY, 204),
    # clients
    ("GET", "/api/v1/clients"): Rule(BUSINESS, 200),
    ("POST", "/api/v1/clients"): Rule(BUSINESS, 201),
    ("POST", "/api/v1/clients/import"): Rule(BUSINESS, 200),
    ("GET", "/api/v1/clients/{client_id}"): Rule(BUSINESS, 200),
    ("PATCH", "/api/v1/clients/{client_id}"): Rule(BUSINESS, 200),
    ("DELETE", "/api/v1/clients/{client_id}"): Rule(BUSINESS, 204),
    # sender identities: staff read them, owners manage them
    ("GET", "/api/v1/sender-identities"): Rule(BUSINESS, 200),
    ("POST", "/api/v1/sender-identities"): Rule(OWNER_ONLY, 201),
    ("GET", "/api/v1/sender-identities/{identity_id}"): Rule(BUSINESS, 200),
    ("PATCH", "/api/v1/sender-identities/{identity_id}"): Rule(OWNER_ONLY, 200),
    ("DELETE", "/api/v1/sender-identities/{identity_id}"): Rule(OWNER_ONLY, 204),
    # a code goes out through the (sandbox) provider; a wrong code is a 400
    ("POST", "/api/v1/sender-identities/{identity_id}/verify"): Rule(OWNER_ONLY, 202),
    ("POST", "/api/v1/sender-identities/{identity_id}/confirm"): Rule(OWNER_ONLY, 400),
    # email configurations (the business's SMTP servers): staff read them, owners manage
    # and test them (A's points at a closed port: the test answers 200 with ok: false)
    ("GET", "/api/v1/email-configurations"): Rule(BUSINESS, 200),
    ("POST", "/api/v1/email-configurations"): Rule(OWNER_ONLY, 201),
    ("GET", "/api/v1/email-configurations/{config_id}"): Rule(BUSINESS, 200),
    ("PATCH", "/api/v1/email-configurations/{config_id}"): Rule(OWNER_ONLY, 200),
    ("DELETE", "/api/v1/email-configurations/{config_id}"): Rule(OWNER_ONLY, 204),
    ("POST", "/api/v1/email-configurations/{config_id}/test"): Rule(OWNER_ONLY, 200),
    # the business's own Twilio account (one per business, no id: B's owner acts on B's;
    # the test reaches no Twilio here, so it answers 200 with ok: false)
    ("GET", TWILIO_PATH): Rule(BUSINESS, 200),
    ("PUT", TWILIO_PATH): Rule(OWNER_ONLY, 200),
    ("DELETE", TWILIO_PATH): Rule(OWNER_ONLY, 204),
    ("POST", f"{TWILIO_PATH}/test"): Rule(OWNER_ONLY, 200),
    # templates
    ("GET", "/api/v1/templates"): Rule(BUSINESS, 200),
    ("POST", "/api/v1/templates"): Rule(BUSINESS, 201),
    ("POST", "/api/v1/templates/preview"): Rule(BUSINESS, 200, other=404),
    ("GET", "/api/v1/templates/{template_id}"): Rule(BUSINESS, 200),
    ("PATCH", "/api/v1/templates/{template_id}"): Rule(BUSINESS, 200),
    ("DELETE", "/api/v1/templates/{template_id}"): Rule(BUSINESS, 204),
    # reminders (creating one starts its workflow; signals and history need Temporal)
    ("POST", "/api/v1/reminders"): Rule(BUSINESS, TEMPORAL_DOWN, other=422),
    ("GET", "/api/v1/reminders"): Rule(BUSINESS, 200),
    ("GET", "/api/v1/reminders/{reminder_id}"): Rule(BUSINESS, 200),
    ("PATCH", "/api/v1/reminders/{reminder_id}"): Rule(BUSINESS, 200),
    ("DELETE", "/api/v1/reminders/{reminder_id}"): Rule(BUSINESS, TEMPORAL_DOWN),
    ("POST", "/api/v1/reminders/{reminder_id}/trigger"): Rule(BUSINESS, TEMPORAL_DOWN),
    ("POST", "/api/v1/reminders/{reminder_id}/pause"): Rule(BUSINESS, TEMPORAL_DOWN),
    ("POST", "/api/v1/reminders/{reminder_id}/resume"): Rule(BUSINESS, TEMPORAL_DOWN),
    ("POST", "/api/v1/reminders/{reminder_id}/complete"): Rule(BUSINESS, TEMPORAL_DOWN),
    ("GET", "/api/v1/reminders/{reminder_id}/deliveries"): Rule(BUSINESS, 200),
    ("GET", "/api/v1/reminders/{reminder_id}/history"): Rule(BUSINESS, TEMPORAL_DOWN),
    # each target client's state; marking one done signals the workflow
    ("GET", "/api/v1/reminders/{reminder_id}/clients"): Rule(BUSINESS, 200),
    ("POST", "/api/v1/reminders/{reminder_id}/clients/{client_id}/done"): Rule(
        BUSINESS, TEMPORAL_DOWN
    ),
    ("GET", "/api/v1/reminders/{reminder_id}/clients/{client_id}/documents/{document_id}"): Rule(
        BUSINESS, 200
    ),
    # clients' replies (the inbox)
    ("GET", "/api/v1/replies"): Rule(BUSINESS, 200),
    ("POST", "/api/v1/replies/read-all"): Rule(BUSINESS, 200),
    ("POST", "/api/v1/replies/{reply_id}/read"): Rule(BUSINESS, 200),
    # deliveries and figures
    ("GET", "/api/v1/notifications"): Rule(BUSINESS, 200),
    ("GET", "/api/v1/notifications/{delivery_id}"): Rule(BUSINESS, 200),
    ("POST", "/api/v1/notifications/{delivery_id}/resend"): Rule(BUSINESS, TEMPORAL_DOWN),
    ("GET", "/api/v1/dashboard/summary"): Rule(BUSINESS, 200),
    ("GET", "/api/v1/dashboard/timeseries"): Rule(BUSINESS, 200),
    ("GET", "/api/v1/usage"): Rule(BUSINESS, 200),
    # audit log
    ("GET", "/api/v1/events"): Rule(OWNER_ONLY, 200),
    # the business's API keys: owners, signed in (never with a key)
    ("GET", "/api/v1/api-keys"): Rule(PEOPLE_OWNERS, 200),
    ("POST", "/api/v1/api-keys"): Rule(PEOPLE_OWNERS, 201),
    ("DELETE", "/api/v1/api-keys/{key_id}"): Rule(PEOPLE_OWNERS, 204),
    # outgoing webhook endpoints: staff read them and their log, owners manage them (the
    # test event is queued: 202 whether or not Temporal takes the start now)
    ("GET", "/api/v1/webhook-endpoints"): Rule(BUSINESS, 200),
    ("POST", "/api/v1/webhook-endpoints"): Rule(OWNER_ONLY, 201),
    ("GET", "/api/v1/webhook-endpoints/{endpoint_id}"): Rule(BUSINESS, 200),
    ("PATCH", "/api/v1/webhook-endpoints/{endpoint_id}"): Rule(OWNER_ONLY, 200),
    ("DELETE", "/api/v1/webhook-endpoints/{endpoint_id}"): Rule(OWNER_ONLY, 204),
    ("POST", "/api/v1/webhook-endpoints/{endpoint_id}/rotate-secret"): Rule(OWNER_ONLY, 200),
    ("GET", "/api/v1/webhook-endpoints/{endpoint_id}/deliveries"): Rule(BUSINESS, 200),
    ("POST", "/api/v1/webhook-endpoints/{endpoint_id}/test"): Rule(OWNER_ONLY, 202),
    # platform
    ("GET", "/api/v1/admin/events"): Rule(ADMIN, 200),
    ("POST", "/api/v1/admin/reconcile"): Rule(ADMIN, TEMPORAL_DOWN),
    ("GET", "/api/v1/admin/users"): Rule(ADMIN, 200),
    ("POST", "/api/v1/admin/users"): Rule(ADMIN, 201),
    ("GET", "/api/v1/admin/users/{user_id}"): Rule(ADMIN, 200),
    ("DELETE", "/api/v1/admin/users/{user_id}"): Rule(ADMIN, 204),
    ("PATCH", "/api/v1/admin/users/{user_id}"): Rule(ADMIN, 200),
    ("POST", "/api/v1/admin/users/{user_id}/password-reset"): Rule(ADMIN, 200),
    ("GET", "/api/v1/admin/businesses"): Rule(ADMIN, 200),
    ("GET", "/api/v1/admin/usage"): Rule(ADMIN, 200),
}

# Routes a person opens in a browser: their errors are pages too, not JSON.
HTML_ROUTES = {("GET", "/api/v1/done/{token}"), ("POST", "/api/v1/done/{token}")}

# The callers each route is tried as.
ANONYMOUS = "anonymous"
MEMBER = "member of A"
OTHER_OWNER = "owner of B"
SUPERUSER_BARE = "superuser without X-Business-Id"
OWNER = "owner of A"
SUPERUSER = "superuser with X-Business-Id: A"
# API keys (read and write) acting as a member of their business, never on account,
# admin or key routes; B's is sent as a bearer token, A's in X-API-Key.
KEY = "API key of A"
OTHER_KEY = "API key of B"


@dataclass
class World:
    """Business A (owner, member, one object of each kind), business B and a superuser."""

    app: Any
    http: httpx.AsyncClient
    owner: Tenant
    member: Tenant
    other: Tenant
    superuser: dict[str, str]
    ids: dict[str, str] = field(default_factory=dict)
    staff_email: str = ""
    key: str = ""  # A's key the KEY caller uses (never the one at ids["key_id"])
    other_key: str = ""
    # Every key made, in clear: no answer but the one that made it may carry one.
    clear_keys: list[str] = field(default_factory=list)

    def headers(self, caller: str) -> dict[str, str]:
        return {
            ANONYMOUS: {},
            MEMBER: self.member.headers,
            OTHER_OWNER: self.other.headers,
            SUPERUSER_BARE: self.superuser,
            OWNER: self.owner.headers,
            SUPERUSER: {**self.superuser, "X-Business-Id": self.owner.business_id},
            KEY: {"X-API-Key": self.key},
            OTHER_KEY: {"Authorization": f"Bearer {self.other_key}"},
        }[caller]

    async def api_key(self, tenant: Tenant) -> tuple[str, str]:
        """A read and write key of the tenant's business: its id and the key in clear."""
        made = await make_key(self.http, tenant)
        self.clear_keys.append(made["key"])
        return str(made["id"]), made["key"]

    async def _post(self, path: str, body: dict[str, Any]) -> str:
        response = await self.http.post(path, headers=self.owner.headers, json=body)
        assert response.status_code == 201, response.text
        return str(response.json()["id"])

    async def _add_document(self, business_id: uuid.UUID, reminder_id: uuid.UUID) -> str:
        """A document A's client sent with "done" (its file in the app's storage)."""
        key = new_key(business_id)
        await storage_from_settings(self.app.state.settings).put(key, b"%PDF-1.4\n")
        document = ClientDocument(
            business_id=business_id,
            reminder_id=reminder_id,
            client_id=uuid.UUID(self.ids["client_id"]),
            period="2099-01-01T09:00:00Z",
            filename="receipt.pdf",
            content_type="application/pdf",
            size=9,
            sha256="0" * 64,
            storage_key=key,
        )
        async with self.app.state.sessionmaker() as session:
            session.add(document)
            await session.commit()
        return str(document.id)

    async def _add_reply(self, delivery: Delivery) -> str:
        """A reply A's client sent to that delivery (as an inbound SMS leaves it)."""
        reply = Reply(
            business_id=delivery.business_id,
            client_id=uuid.UUID(self.ids["client_id"]),
            channel="sms",
            from_number="+447911123456",
            body="Sent it yesterday",
            message_sid="SM" + uuid.uuid4().hex,
            delivery_id=delivery.id,
            reminder_id=delivery.reminder_id,
        )
        async with self.app.state.sessionmaker() as session:
            session.add(reply)
            await session.commit()
        return str(reply.id)

    async def make(self, name: str) -> None:
        """(Re)create A's object behind the path parameter `name`."""
        if name == "client_id":
            self.ids[name] = await self._post(
                "/api/v1/clients",
                {"name": "Bob Builder", "email": "bob@client.example.com", "tags": ["vat"]},
            )
            if "reminder_id" in self.ids:  # A's reminder and its document are for this client
                await self.make("reminder_id")
        elif name == "template_id":
            self.ids[name] = await self._post(
                "/api/v1/templates",
                {"name": "VAT", "subject": "VAT", "body": "Hi {{ client.name }}"},
            )
        elif name == "identity_id":
            self.ids[name] = await self._post(
                "/api/v1/sender-identities",
                {"channel": "email", "from_email": "office@acme.example.com"},
            )
        elif name == "config_id":
            self.ids[name] = await self._post(
                "/api/v1/email-configurations",
                {
                    "name": f"Office {uuid.uuid4().hex[:6]}",
                    "host": "127.0.0.1",
                    "port": unused_port(),
                    "security": "none",
                    "username": "office",
                    "password": EMAIL_CONFIG_PASSWORD,
                    "from_email": "office@acme.example.com",
                },
            )
        elif name == "field_id":
            self.ids[name] = await self._post(
                "/api/v1/business/client-fields",
                {"name": "vat_number", "label": "VAT number", "type": "text"},
            )
        elif name == "member_id":
            staff = await add_member(self.http, self.owner)
            self.staff_email = staff.email
            listing = await self.http.get("/api/v1/business/members", headers=self.owner.headers)
            rows = listing.json()["items"]
            self.ids[name] = next(m["id"] for m in rows if m["user_id"] == staff.user_id)
        elif name == "reminder_id":
            seed = Seeded(
                self.app.state.sessionmaker,
                uuid.UUID(self.owner.business_id),
                uuid.UUID(self.ids["client_id"]),
            )
            row = await add_reminder(
                seed,
                {"kind": "once", "at": "2099-01-01T09:00:00+00:00"},
                body="Hi {{ client.name }}",
                status="scheduled",
                # By tag: A's client stays a target when the routes remake it.
                client_ids=[],
                tag="vat",
            )
            self.ids[name] = str(row.id)
            now = utcnow()
            async with self.app.state.sessionmaker() as session:
                delivery = Delivery(
                    business_id=row.business_id,
                    reminder_id=row.id,
                    client_id=seed.client_id,
                    channel="email",
                    occurrence_key="2099-01-01T09:00:00Z",
                    status="delivered",
                    attempts=1,
                    to_address="bob@client.example.com",
                    subject="VAT",
                    body="Hi Bob Builder",
                    provider_message_id="sandbox-0001",
                    scheduled_for=now - timedelta(hours=1),
                    sent_at=now - timedelta(hours=1),
                    delivered_at=now,
                )
                session.add(delivery)
                await session.commit()
                self.ids["delivery_id"] = str(delivery.id)
            self.ids["document_id"] = await self._add_document(row.business_id, row.id)
            self.ids["reply_id"] = await self._add_reply(delivery)
        elif name == "twilio":
            # Both businesses use one Twilio account, each with a token of its own (Twilio's
            # primary and secondary tokens); stored as a saved account is, and the local
            # Twilio the app checks with knows the account (PUT asks it).
            twilio = FakeTwilio.serving(self.app.state.settings.TWILIO_API_BASE_URL)
            twilio.add_account(TWILIO_ACCOUNT, TWILIO_CONFIG_TOKEN)
            async with self.app.state.sessionmaker() as session:
                await session.execute(delete(TwilioCredentials))  # made again after a DELETE
                for tenant, account, token in (
                    (self.owner, TWILIO_ACCOUNT, TWILIO_CONFIG_TOKEN),
                    (self.other, TWILIO_ACCOUNT, RIVAL_TWILIO_TOKEN),
                ):
                    session.add(
                        TwilioCredentials(
                            business_id=uuid.UUID(tenant.business_id),
                            account_sid=account,
                            auth_token_encrypted=encrypt(token, self.app.state.settings),
                        )
                    )
                await session.commit()
        elif name == "endpoint_id":
            self.ids[name] = await self._post(
                "/api/v1/webhook-endpoints",
                {"url": f"http://127.0.0.1:{unused_port()}/hooks", "events": ["delivery.sent"]},
            )
        elif name == "key_id":
            self.ids[name], _ = await self.api_key(self.owner)
        elif name == "token":
            self.ids[name] = "not-a-signed-token"
        elif name == "user_id":
            # An account superusers administer (and delete: then made again), of its own.
            self.ids[name] = (await add_member(self.http, self.owner)).user_id
        elif name == "invitation_id":
            self.ids[name] = await self._post(
                "/api/v1/business/invitations", {"email": f"inv-{uuid.uuid4().hex[:8]}@example.com"}
            )
        else:  # pragma: no cover - a new path parameter needs an object here
            raise AssertionError(f"no object for path parameter {name}")


async def build_world(app: Any, http: httpx.AsyncClient) -> World:
    owner = await register_tenant(http, "Acme")
    world = World(
        app=app,
        http=http,
        owner=owner,
        member=await add_member(http, owner),
        other=await register_tenant(http, "Rival"),
        superuser=await superuser_headers(app, http),
    )
    # B has one of everything too, so "404" is never just "B has no such table rows".
    for path, body in (
        ("/api/v1/clients", {"name": "Rival Client"}),
        ("/api/v1/business/client-fields", {"name": "vat_number", "label": "VAT", "type": "text"}),
        ("/api/v1/templates", {"name": "Rival", "body": "Hi"}),
        (
            "/api/v1/webhook-endpoints",
            {"url": "https://hooks.rival.example/", "events": ["client.done"]},
        ),
        ("/api/v1/sender-identities", {"channel": "email", "from_email": "b@rival.example"}),
        (
            "/api/v1/email-configurations",
            {"name": "Rival", "host": "smtp.rival.example", "from_email": "b@rival.example"},
        ),
    ):
        response = await http.post(path, headers=world.other.headers, json=body)
        assert response.status_code == 201, response.text
    for name in (
        "client_id",
        "template_id",
        "identity_id",
        "config_id",
        "field_id",
        "member_id",
        "reminder_id",
        "token",
        "user_id",
        "invitation_id",
        "twilio",
        "key_id",
        "endpoint_id",
    ):
        await world.make(name)
    _, world.key = await world.api_key(world.owner)
    _, world.other_key = await world.api_key(world.other)
    return world


def body_for(world: World, route: tuple[str, str]) -> dict[str, Any]:
    """httpx keyword arguments: a minimal valid body for the route (none when it takes none)."""
    client_id = world.ids["client_id"]
    bodies: dict[tuple[str, str], Callable[[], dict[str, Any]]] = {
        ("PATCH", "/api/v1/users/me"): lambda: {"json": {"full_name": "Renamed Person"}},
        ("PATCH", "/api/v1/business"): lambda: {"json": {"name": "Renamed Co"}},
        ("POST", "/api/v1/business/members"): lambda: {
            "json": {
                "email": f"new-{uuid.uuid4().hex[:8]}@example.com",
                "full_name": "New Staff",
                "password": PASSWORD,
            }
        },
        ("POST", "/api/v1/business/client-fields"): lambda: {
            "json": {"name": f"f_{uuid.uuid4().hex[:8]}", "label": "Year end", "type": "date"}
        },
        ("POST", "/api/v1/clients"): lambda: {"json": {"name": "New Client"}},
        ("POST", "/api/v1/clients/import"): lambda: {
            "files": {"file": ("c.csv", b"name,email\nImported,imp@example.com\n", "text/csv")}
        },
        ("PATCH", "/api/v1/clients/{client_id}"): lambda: {"json": {"name": "Renamed"}},
        ("POST", "/api/v1/sender-identities"): lambda: {
            "json": {"channel": "sms", "from_number": "+447911000111"}
        },
        ("PATCH", "/api/v1/sender-identities/{identity_id}"): lambda: {
            "json": {"from_name": "Renamed"}
        },
        ("POST", "/api/v1/sender-identities/{identity_id}/confirm"): lambda: {
            "json": {"code": "000000"}
        },
        ("POST", "/api/v1/email-configurations"): lambda: {
            "json": {
                "name": f"New {uuid.uuid4().hex[:6]}",
                "host": "smtp.example.com",
                "from_email": "new@acme.example.com",
            }
        },
        ("PATCH", "/api/v1/email-configurations/{config_id}"): lambda: {
            "json": {"from_name": "Renamed"}
        },
        ("PUT", TWILIO_PATH): lambda: {
            "json": {"account_sid": TWILIO_ACCOUNT, "auth_token": TWILIO_CONFIG_TOKEN}
        },
        ("POST", "/api/v1/templates"): lambda: {
            "json": {"name": f"New {uuid.uuid4().hex[:6]}", "body": "Hi"}
        },
        ("POST", "/api/v1/templates/preview"): lambda: {
            "json": {"body": "Hi {{ client.name }}", "client_id": client_id}
        },
        ("PATCH", "/api/v1/templates/{template_id}"): lambda: {"json": {"name": "Renamed"}},
        ("POST", "/api/v1/reminders"): lambda: {
            "json": {
                "title": "VAT",
                "type": "deadline",
                "client_ids": [client_id],
                "body": "Hi",
                "schedule": {"kind": "once", "at": "2099-06-01T09:00:00+00:00"},
            }
        },
        ("PATCH", "/api/v1/reminders/{reminder_id}"): lambda: {"json": {"title": "Renamed"}},
        ("POST", "/api/v1/api-keys"): lambda: {
            "json": {"name": f"Key {uuid.uuid4().hex[:6]}", "scopes": ["read"]}
        },
        ("PATCH", "/api/v1/admin/users/{user_id}"): lambda: {"json": {"full_name": "Renamed"}},
        ("POST", "/api/v1/admin/users"): lambda: {
            "json": {
                "email": f"made-{uuid.uuid4().hex[:8]}@example.com",
                "full_name": "Made By Admin",
                "password": PASSWORD,
            }
        },
        ("POST", "/api/v1/business/invitations"): lambda: {
            "json": {"email": f"invitee-{uuid.uuid4().hex[:8]}@example.com"}
        },
        ("POST", "/api/v1/webhook-endpoints"): lambda: {
            "json": {"url": "https://hooks.acme.example/in", "events": ["reply.received"]}
        },
        ("PATCH", "/api/v1/webhook-endpoints/{endpoint_id}"): lambda: {
            "json": {"description": "Renamed"}
        },
        ("POST", "/api/v1/webhooks/twilio/status"): lambda: {
            "data": {"MessageSid": "SM" + "0" * 32, "MessageStatus": "delivered"}
        },
        ("POST", "/api/v1/webhooks/twilio/inbound"): lambda: {
            "data": {"From": "+447911123456", "Body": "STOP"}
        },
    }
    if route in bodies:
        return bodies[route]()
    if TABLE[route].category == PUBLIC:
        return {"json": {}}
    return {}


def url_for(world: World, path: str, ids: dict[str, str]) -> str:
    return re.sub(r"\{([^}]+)\}", lambda m: ids[m.group(1)], path)
