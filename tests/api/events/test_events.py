"""The audit log: owners read their business's events, superusers read everyone's."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from core.models import User
from tests.conftest import PASSWORD, Tenant, superuser_headers

EVENTS = "/api/v1/events"
ADMIN_EVENTS = "/api/v1/admin/events"


async def _create_client(http: httpx.AsyncClient, tenant: Tenant, name: str) -> str:
    response = await http.post(
        "/api/v1/clients", headers=tenant.headers, json={"name": name, "email": "c@example.com"}
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def _events(
    http: httpx.AsyncClient, headers: dict[str, str], url: str = EVENTS, **params: Any
) -> dict[str, Any]:
    response = await http.get(url, headers=headers, params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_owner_sees_their_changes_newest_first_with_actor_and_subject(
    client: httpx.AsyncClient, owner: Tenant
) -> None:
    client_id = await _create_client(client, owner, "Ada")
    patched = await client.patch(
        f"/api/v1/clients/{client_id}", headers=owner.headers, json={"name": "Ada L."}
    )
    assert patched.status_code == 200, patched.text
    template = await client.post(
        "/api/v1/templates",
        headers=owner.headers,
        json={"name": "VAT", "subject": "VAT due", "body": "Hi {{ client.name }}"},
    )
    assert template.status_code == 201, template.text

    body = await _events(client, owner.headers)

    actions = [e["action"] for e in body["items"]]
    assert actions == ["template.created", "client.updated", "client.created", "user.registered"]
    assert body["total"] == 4
    for event in body["items"]:
        assert event["actor_user_id"] == owner.user_id
        assert event["actor_email"] == owner.email
        assert event["business_id"] == owner.business_id
    template_event, updated, created, registered = body["items"]
    assert (template_event["subject_type"], template_event["subject_id"]) == (
        "template",
        template.json()["id"],
    )
    assert (updated["subject_type"], updated["subject_id"]) == ("client", client_id)
    assert updated["payload"]["fields"] == ["name"]
    assert created["payload"]["name"] == "Ada"
    assert (registered["subject_type"], registered["subject_id"]) == ("user", owner.user_id)
    assert PASSWORD not in str(body)
    times = [e["created_at"] for e in body["items"]]
    assert times == sorted(times, reverse=True)


async def test_failed_login_is_logged_for_the_users_business_without_the_password(
    app: Any, client: httpx.AsyncClient, owner: Tenant
) -> None:
    wrong = await client.post(
        "/api/v1/auth/token", data={"username": owner.email, "password": "Wrong-Guess-99"}
    )
    unknown = await client.post(
        "/api/v1/auth/token", data={"username": "nobody@example.com", "password": "Wrong-Guess-99"}
    )
    # The answer does not tell whether the email exists.
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()

    body = await _events(client, owner.headers, action="auth.login_failed")

    assert body["total"] == 1
    (event,) = body["items"]
    assert event["subject_type"] == "user"
    assert event["subject_id"] == owner.user_id
    assert event["actor_user_id"] is None
    assert event["payload"]["email"] == owner.email
    assert "Wrong-Guess-99" not in str(event)
    assert "password" not in event["payload"]

    # The unknown email belongs to no business: only superusers see it.
    admin = await superuser_headers(app, client)
    everywhere = await _events(client, admin, ADMIN_EVENTS, action="auth.login_failed")
    emails = {e["payload"]["email"]: e["business_id"] for e in everywhere["items"]}
    assert emails == {owner.email: owner.business_id, "nobody@example.com": None}
    assert "Wrong-Guess-99" not in str(everywhere)


async def test_owner_never_sees_another_business_events(
    client: httpx.AsyncClient, owner: Tenant, other_owner: Tenant
) -> None:
    theirs = await _create_client(client, other_owner, "Rival client")
    await _create_client(client, owner, "Mine")

    body = await _events(client, owner.headers, limit=200)

    assert {e["business_id"] for e in body["items"]} == {owner.business_id}
    assert theirs not in {e["subject_id"] for e in body["items"]}
    assert other_owner.user_id not in {e["actor_user_id"] for e in body["items"]}
    assert (await _events(client, owner.headers, subject_id=theirs))["total"] == 0
    # Filters cannot widen the scope: another business's id is simply not a filter here.
    assert (await _events(client, owner.headers, business_id=other_owner.business_id))[
        "items"
    ] == body["items"]


async def test_members_added_and_removed_are_logged(
    client: httpx.AsyncClient, owner: Tenant, member: Tenant
) -> None:
    members = await client.get("/api/v1/business/members", headers=owner.headers)
    membership = next(m for m in members.json()["items"] if m["user_id"] == member.user_id)
    removed = await client.delete(
        f"/api/v1/business/members/{membership['id']}", headers=owner.headers
    )
    assert removed.status_code == 204, removed.text

    body = await _events(client, owner.headers, action="member.")

    assert [e["action"] for e in body["items"]] == ["member.removed", "member.added"]
    assert {e["subject_id"] for e in body["items"]} == {member.user_id}
    assert PASSWORD not in str(body)


async def test_members_may_not_read_the_log(client: httpx.AsyncClient, member: Tenant) -> None:
    response = await client.get(EVENTS, headers=member.headers)
    assert response.status_code == 403
    assert response.json()["detail"]
    assert (await client.get(ADMIN_EVENTS, headers=member.headers)).status_code == 403


async def test_owners_may_not_read_everyones_log(client: httpx.AsyncClient, owner: Tenant) -> None:
    response = await client.get(ADMIN_EVENTS, headers=owner.headers)
    assert response.status_code == 403
    assert response.json()["detail"]


@pytest.mark.parametrize("url", [EVENTS, ADMIN_EVENTS])
async def test_anonymous_callers_are_refused(client: httpx.AsyncClient, url: str) -> None:
    response = await client.get(url)
    assert response.status_code == 401
    assert response.json()["detail"]


@pytest.mark.parametrize("method", ["PATCH", "PUT", "DELETE", "POST"])
async def test_the_log_cannot_be_changed(
    client: httpx.AsyncClient, owner: Tenant, method: str
) -> None:
    response = await client.request(method, EVENTS, headers=owner.headers, json={})
    assert response.status_code == 405


async def test_superuser_sees_every_business_and_filters(
    app: Any, client: httpx.AsyncClient, owner: Tenant, other_owner: Tenant
) -> None:
    mine = await _create_client(client, owner, "Mine")
    theirs = await _create_client(client, other_owner, "Theirs")
    admin = await superuser_headers(app, client)

    everything = await _events(client, admin, ADMIN_EVENTS)
    businesses = {e["business_id"] for e in everything["items"]}
    assert {owner.business_id, other_owner.business_id} <= businesses

    only_theirs = await _events(client, admin, ADMIN_EVENTS, business_id=other_owner.business_id)
    assert {e["business_id"] for e in only_theirs["items"]} == {other_owner.business_id}
    assert [e["action"] for e in only_theirs["items"]] == ["client.created", "user.registered"]

    created = await _events(client, admin, ADMIN_EVENTS, action="client.created")
    assert {e["subject_id"] for e in created["items"]} == {mine, theirs}
    prefixed = await _events(client, admin, ADMIN_EVENTS, action="client.")
    assert prefixed["items"] == created["items"]
    by_actor = await _events(client, admin, ADMIN_EVENTS, actor_user_id=owner.user_id)
    assert {e["actor_user_id"] for e in by_actor["items"]} == {owner.user_id}
    by_subject = await _events(
        client, admin, ADMIN_EVENTS, subject_type="client", subject_id=theirs
    )
    assert [e["business_id"] for e in by_subject["items"]] == [other_owner.business_id]


async def test_time_window_and_pagination(client: httpx.AsyncClient, owner: Tenant) -> None:
    for n in range(4):
        await _create_client(client, owner, f"Client {n}")

    everything = await _events(client, owner.headers)
    assert everything["total"] == 5

    first = await _events(client, owner.headers, limit=2)
    second = await _events(client, owner.headers, limit=2, offset=2)
    assert first["total"] == second["total"] == 5
    assert len(first["items"]) == len(second["items"]) == 2
    assert first["items"] + second["items"] == everything["items"][:4]

    newest = everything["items"][0]["created_at"]
    assert (await _events(client, owner.headers, since=newest))["total"] == 1
    assert (await _events(client, owner.headers, until=newest))["total"] == 4
    future = "2999-01-01T00:00:00+00:00"
    assert (await _events(client, owner.headers, since=future))["total"] == 0


@pytest.mark.parametrize(
    "params",
    [
        {"limit": 201},
        {"limit": 0},
        {"offset": -1},
        {"since": "yesterday"},
        {"since": "2026-01-01T00:00:00"},  # no offset: ambiguous
        {"since": "2026-02-01T00:00:00+00:00", "until": "2026-01-01T00:00:00+00:00"},
        {"actor_user_id": "not-a-uuid"},
        {"action": "client.%"},
        {"action": "x" * 65},
        {"subject_id": "a\x00b"},
    ],
)
async def test_bad_filters_are_refused_with_a_reason(
    client: httpx.AsyncClient, owner: Tenant, params: dict[str, Any]
) -> None:
    response = await client.get(EVENTS, headers=owner.headers, params=params)
    assert response.status_code == 422, response.text
    assert response.json()["detail"]


async def test_admin_filter_by_business_must_be_an_id(app: Any, client: httpx.AsyncClient) -> None:
    admin = await superuser_headers(app, client)
    response = await client.get(ADMIN_EVENTS, headers=admin, params={"business_id": "acme"})
    assert response.status_code == 422
    assert response.json()["detail"]


async def test_login_to_a_deactivated_account_is_logged(
    app: Any, client: httpx.AsyncClient, owner: Tenant
) -> None:
    async with app.state.sessionmaker() as session:
        user = await session.get(User, uuid.UUID(owner.user_id))
        assert user is not None
        user.is_active = False
        await session.commit()
    response = await client.post(
        "/api/v1/auth/token", data={"username": owner.email, "password": PASSWORD}
    )
    assert response.status_code == 401

    admin = await superuser_headers(app, client)
    body = await _events(client, admin, ADMIN_EVENTS, action="auth.login_failed")
    (event,) = body["items"]
    assert (event["business_id"], event["subject_id"]) == (owner.business_id, owner.user_id)
    assert event["payload"] == {"email": owner.email, "reason": "deactivated"}


async def test_reconcile_runs_are_visible_to_superusers_only(
    app: Any, client: httpx.AsyncClient, owner: Tenant
) -> None:
    from ops.reconcile import reconcile

    admin = await superuser_headers(app, client)
    root = (await client.get("/api/v1/users/me", headers=admin)).json()["id"]
    # No active reminders: the run asks Temporal nothing, so no client is needed.
    await reconcile(
        app.state.sessionmaker,
        None,  # type: ignore[arg-type]
        app.state.settings,
        actor_user_id=uuid.UUID(root),
        source="api",
    )

    body = await _events(client, admin, ADMIN_EVENTS, action="reconcile.run")
    (event,) = body["items"]
    assert event["business_id"] is None
    assert event["actor_user_id"] == root
    assert event["payload"]["source"] == "api"
    assert event["payload"]["checked"] == 0
    assert (await _events(client, owner.headers, action="reconcile.run"))["total"] == 0
