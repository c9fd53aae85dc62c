"""Mass assignment: fields a caller must not set (ids, the business, roles, the superuser
flag, statuses, workflow and delivery bookkeeping, timestamps) are refused with a 422 naming
the field on every create and update route, and the request changes nothing at all, not
even its allowed fields."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from tests.builders.routes import World, build_world
from tests.conftest import PASSWORD, Tenant, count_rows

NOW = "2020-01-01T00:00:00+00:00"
SOMEONE_ELSE = str(uuid.uuid4())

# Bookkeeping no caller may write, on every resource.
COMMON = {"id": SOMEONE_ELSE, "business_id": SOMEONE_ELSE, "created_at": NOW, "updated_at": NOW}
REMINDER = {
    **COMMON,
    "status": "completed",
    "workflow_id": "reminder-hijacked",
    "occurrences_sent": 99,
    "next_fire_at": NOW,
    "last_fired_at": NOW,
    "idempotency_key": "stolen",
    "request_hash": "0" * 64,
    "created_by_user_id": SOMEONE_ELSE,
    "live": True,
}
ACCOUNT = {
    "id": SOMEONE_ELSE,
    "is_superuser": True,
    "is_active": False,
    "role": "owner",
    "business_id": SOMEONE_ELSE,
    "email": "hijack@example.com",
    "hashed_password": "$2b$12$" + "x" * 53,
    "last_login_at": NOW,
    "created_at": NOW,
}
DELIVERY_RESULTS = {
    "status": "delivered",
    "provider_message_id": "SM" + "0" * 32,
    "delivered_at": NOW,
    "attempts": 0,
}


def _refused(response: httpx.Response, name: str) -> None:
    assert response.status_code == 422, (name, response.status_code, response.text)
    locations = [error["loc"][-1] for error in response.json().get("errors", [])]
    assert name in locations or name in response.json()["detail"], (name, response.text)


async def _get(http: httpx.AsyncClient, world: World, path: str) -> Any:
    response = await http.get(path, headers=world.owner.headers)
    assert response.status_code == 200, response.text
    return response.json()


# (kind, path of the object or collection, a valid body, fields that must be refused)
UPDATES: list[tuple[str, str, dict[str, Any], dict[str, Any]]] = [
    ("clients", "/api/v1/clients/{client_id}", {"name": "Renamed"}, COMMON),
    ("templates", "/api/v1/templates/{template_id}", {"name": "Renamed"}, COMMON),
    (
        "sender-identities",
        "/api/v1/sender-identities/{identity_id}",
        {"from_name": "Renamed"},
        {**COMMON, "verified_at": NOW, "channel": "sms"},
    ),
    (
        "email-configurations",
        "/api/v1/email-configurations/{config_id}",
        {"from_name": "Renamed"},
        {**COMMON, "password_encrypted": "gAAAA-not-ours", "has_password": False},
    ),
    # A delivery's results are written by the worker and Twilio's signed callbacks only.
    (
        "reminders",
        "/api/v1/reminders/{reminder_id}",
        {"title": "Renamed"},
        {**REMINDER, **DELIVERY_RESULTS},
    ),
    ("business", "/api/v1/business", {"name": "Renamed Co"}, {**COMMON, "owner_id": SOMEONE_ELSE}),
]


# A member's update is a 403 there.
OWNERS_ONLY = {"business", "sender-identities", "email-configurations"}


async def test_update_routes_refuse_bookkeeping_fields_and_change_nothing(
    app: Any, client: httpx.AsyncClient
) -> None:
    world = await build_world(app, client)
    superuser = {**world.superuser, "X-Business-Id": world.owner.business_id}
    deliveries = f"/api/v1/reminders/{world.ids['reminder_id']}/deliveries"
    deliveries_before = await _get(client, world, deliveries)
    for kind, template, good, forbidden in UPDATES:
        path = template.format(**world.ids)
        before = await _get(client, world, path)
        callers = {"owner": world.owner.headers, "member": world.member.headers, "su": superuser}
        for who, headers in callers.items():
            for name, value in forbidden.items():
                response = await client.patch(path, headers=headers, json={**good, name: value})
                if kind in OWNERS_ONLY and who == "member":
                    assert response.status_code == 403, response.text
                    continue
                _refused(response, name)
        after = await _get(client, world, path)
        assert after == before, kind
    assert await _get(client, world, deliveries) == deliveries_before


CREATES: list[tuple[str, str, dict[str, Any], dict[str, Any]]] = [
    ("clients", "/api/v1/clients", {"name": "New Client"}, COMMON),
    (
        "client_fields",
        "/api/v1/business/client-fields",
        {"name": "year_end", "label": "Year end", "type": "date"},
        COMMON,
    ),
    ("templates", "/api/v1/templates", {"name": "New", "body": "Hi"}, COMMON),
    (
        "sender_identities",
        "/api/v1/sender-identities",
        {"channel": "email", "from_email": "new@acme.example.com"},
        {**COMMON, "verified_at": NOW},
    ),
    (
        "email_configurations",
        "/api/v1/email-configurations",
        {"name": "Another", "host": "smtp.example.com", "from_email": "new@acme.example.com"},
        {**COMMON, "password_encrypted": "gAAAA-not-ours", "has_password": True},
    ),
    (
        "reminders",
        "/api/v1/reminders",
        {
            "title": "VAT",
            "type": "deadline",
            "tag": "vat",
            "body": "Hi",
            "schedule": {"kind": "once", "at": "2099-06-01T09:00:00+00:00"},
        },
        REMINDER,
    ),
    (
        "memberships",
        "/api/v1/business/members",
        {"email": "staff-new@example.com", "full_name": "Staff", "password": PASSWORD},
        {k: v for k, v in ACCOUNT.items() if k not in ("role", "email")},
    ),
]


async def test_create_routes_refuse_bookkeeping_fields_and_create_nothing(
    app: Any, client: httpx.AsyncClient
) -> None:
    world = await build_world(app, client)
    for table, path, good, forbidden in CREATES:
        rows = await count_rows(app, table)
        events = await count_rows(app, "app_events")
        for name, value in forbidden.items():
            response = await client.post(
                path, headers=world.owner.headers, json={**good, name: value}
            )
            _refused(response, name)
        assert await count_rows(app, table) == rows, table
        assert await count_rows(app, "app_events") == events, table


async def test_member_role_is_owner_or_member_only(
    app: Any, client: httpx.AsyncClient, owner: Tenant, member: Tenant
) -> None:
    members = await count_rows(app, "memberships")
    for role in ("superuser", "admin", "OWNER ", ""):
        response = await client.post(
            "/api/v1/business/members",
            headers=owner.headers,
            json={"email": "x@example.com", "full_name": "X", "password": PASSWORD, "role": role},
        )
        assert response.status_code == 422, (role, response.text)
    assert await count_rows(app, "memberships") == members
    # A member may not add anyone, whatever role it asks for.
    refused = await client.post(
        "/api/v1/business/members",
        headers=member.headers,
        json={"email": "y@example.com", "full_name": "Y", "password": PASSWORD, "role": "owner"},
    )
    assert refused.status_code == 403
    assert await count_rows(app, "memberships") == members


async def test_users_me_refuses_privilege_fields(
    client: httpx.AsyncClient, owner: Tenant, member: Tenant
) -> None:
    for tenant in (owner, member):
        before = (await client.get("/api/v1/users/me", headers=tenant.headers)).json()
        for name, value in ACCOUNT.items():
            response = await client.patch(
                "/api/v1/users/me",
                headers=tenant.headers,
                json={"full_name": "Renamed", name: value},
            )
            _refused(response, name)
        after = (await client.get("/api/v1/users/me", headers=tenant.headers)).json()
        assert after == before
        assert after["is_superuser"] is False
        admin = await client.get("/api/v1/admin/events", headers=tenant.headers)
        assert admin.status_code == 403


async def test_register_refuses_privilege_fields_and_creates_nothing(
    app: Any, client: httpx.AsyncClient, owner: Tenant
) -> None:
    users = await count_rows(app, "users")
    businesses = await count_rows(app, "businesses")
    good = {
        "email": "newcomer@example.com",
        "password": PASSWORD,
        "full_name": "Newcomer",
        "business_name": "Newcomer Ltd",
    }
    for name, value in {
        **ACCOUNT,
        "business_id": owner.business_id,  # joining an existing business
        "role": "member",
    }.items():
        if name == "email":
            continue
        response = await client.post("/api/v1/auth/register", json={**good, name: value})
        _refused(response, name)
    assert await count_rows(app, "users") == users
    assert await count_rows(app, "businesses") == businesses


async def test_every_json_body_refuses_unknown_fields(app: Any) -> None:
    """A new input schema that forgets extra="forbid" fails here (the OpenAPI schema says
    `additionalProperties: false` for every JSON body the API accepts)."""
    schema = app.openapi()
    components = schema["components"]["schemas"]
    open_bodies = []
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            content = operation.get("requestBody", {}).get("content", {})
            if "application/json" not in content:
                continue
            ref = content["application/json"]["schema"].get("$ref", "")
            body = components[ref.rsplit("/", 1)[-1]] if ref else {}
            if body.get("additionalProperties") is not False:
                open_bodies.append(f"{method.upper()} {path}")
    assert not open_bodies
