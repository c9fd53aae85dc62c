"""Managing webhook endpoints through the API: the secret shown once (and on rotate),
owners only for changes, another business's endpoint 404, an audit trail without the
secret, and the destinations a tenant may not make the platform call (SSRF)."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from api.webhook_endpoints.service import MAX_ENDPOINTS
from tests.conftest import Tenant, count_rows, settings_changed

URL = "/api/v1/webhook-endpoints"
PUBLIC_URL = "https://93.184.215.14/hooks"  # a public address: saved, never called here


async def create(http: httpx.AsyncClient, tenant: Tenant, **fields: Any) -> httpx.Response:
    body = {"url": PUBLIC_URL, "events": ["delivery.sent", "client.done"], **fields}
    return await http.post(URL, headers=tenant.headers, json=body)


@pytest.fixture
def public_only(app: Any) -> Iterator[None]:
    """As production runs it: tenant destinations on the public internet only."""
    with settings_changed(app, ALLOW_PRIVATE_DESTINATIONS=False):
        yield


async def test_the_secret_is_shown_at_creation_and_rotation_only(
    client: httpx.AsyncClient, owner: Tenant
) -> None:
    made = await create(client, owner, description="Our CRM")
    assert made.status_code == 201, made.text
    body = made.json()
    secret = body["secret"]
    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret[6:])) >= 24
    assert body["events"] == ["client.done", "delivery.sent"]
    assert body["is_enabled"] is True
    listed = await client.get(URL, headers=owner.headers)
    read = await client.get(f"{URL}/{body['id']}", headers=owner.headers)
    assert listed.json()["total"] == 1
    assert secret not in listed.text
    assert secret not in read.text
    assert "secret" not in read.json()

    rotated = await client.post(f"{URL}/{body['id']}/rotate-secret", headers=owner.headers)
    assert rotated.status_code == 200
    assert rotated.json()["secret"].startswith("whsec_")
    assert rotated.json()["secret"] != secret

    events = await client.get("/api/v1/events", headers=owner.headers)
    actions = [e["action"] for e in events.json()["items"]]
    assert {"webhook_endpoint.created", "webhook_endpoint.secret_rotated"} <= set(actions)
    assert secret not in events.text
    assert rotated.json()["secret"] not in events.text


async def test_owners_change_endpoints_and_members_only_read_them(
    client: httpx.AsyncClient, owner: Tenant, member: Tenant
) -> None:
    endpoint = (await create(client, owner)).json()
    path = f"{URL}/{endpoint['id']}"
    assert (await create(client, member)).status_code == 403
    assert (
        await client.patch(path, headers=member.headers, json={"description": "x"})
    ).status_code == 403
    assert (await client.delete(path, headers=member.headers)).status_code == 403
    assert (await client.post(f"{path}/test", headers=member.headers)).status_code == 403
    assert (await client.get(path, headers=member.headers)).status_code == 200
    assert (await client.get(f"{path}/deliveries", headers=member.headers)).status_code == 200

    changed = await client.patch(
        path, headers=owner.headers, json={"events": ["reply.received"], "is_enabled": False}
    )
    assert changed.status_code == 200, changed.text
    assert (changed.json()["events"], changed.json()["is_enabled"]) == (["reply.received"], False)
    assert (await client.delete(path, headers=owner.headers)).status_code == 204
    assert (await client.get(path, headers=owner.headers)).status_code == 404
    events = await client.get("/api/v1/events", headers=owner.headers)
    actions = {e["action"] for e in events.json()["items"]}
    assert {"webhook_endpoint.updated", "webhook_endpoint.deleted"} <= actions


async def test_another_business_endpoint_is_not_found(
    client: httpx.AsyncClient, owner: Tenant, other_owner: Tenant
) -> None:
    endpoint = (await create(client, owner)).json()
    path = f"{URL}/{endpoint['id']}"
    for method, suffix in (
        ("GET", ""),
        ("PATCH", ""),
        ("DELETE", ""),
        ("GET", "/deliveries"),
        ("POST", "/test"),
        ("POST", "/rotate-secret"),
    ):
        kwargs: dict[str, Any] = {"json": {"description": "x"}} if method == "PATCH" else {}
        response = await client.request(
            method, path + suffix, headers=other_owner.headers, **kwargs
        )
        assert response.status_code == 404, (method, suffix, response.text)
    assert (await client.get(URL, headers=other_owner.headers)).json()["total"] == 0
    assert (await client.get(path, headers=owner.headers)).status_code == 200


async def test_unknown_events_and_bad_urls_are_refused(
    client: httpx.AsyncClient, owner: Tenant, app: Any
) -> None:
    for fields in (
        {"events": ["delivery.exploded"]},
        {"events": []},
        {"url": "ftp://93.184.215.14/"},
        {"url": "not a url"},
        {"url": "https://user:pass@93.184.215.14/"},
        {"url": "https://[::1/"},
        {"url": "https://93.184.215.14:99999/"},
    ):
        response = await create(client, owner, **fields)
        assert response.status_code == 422, (fields, response.text)
        assert "detail" in response.json()
    assert await count_rows(app, "webhook_endpoints") == 0


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/hooks",
        "https://169.254.169.254/latest/meta-data/",
        "https://10.0.0.1/hooks",
        "https://[::ffff:127.0.0.1]/hooks",
        "https://localhost:8443/hooks",  # a name that resolves to loopback
    ],
)
async def test_private_destinations_are_refused(
    client: httpx.AsyncClient, owner: Tenant, app: Any, public_only: None, url: str
) -> None:
    response = await create(client, owner, url=url)
    assert response.status_code == 422, response.text
    assert "public internet" in response.json()["detail"]
    endpoint = (await create(client, owner)).json()
    moved = await client.patch(f"{URL}/{endpoint['id']}", headers=owner.headers, json={"url": url})
    assert moved.status_code == 422
    assert (await client.get(f"{URL}/{endpoint['id']}", headers=owner.headers)).json()[
        "url"
    ] == PUBLIC_URL


async def test_production_takes_https_only(
    client: httpx.AsyncClient, owner: Tenant, app: Any
) -> None:
    with settings_changed(app, ENV="production", ALLOW_PRIVATE_DESTINATIONS=False):
        plain = await create(client, owner, url="http://93.184.215.14/hooks")
        secure = await create(client, owner)
    assert plain.status_code == 422
    assert "https://" in plain.json()["detail"]
    assert secure.status_code == 201, secure.text


async def test_a_business_has_a_bounded_number_of_endpoints(
    client: httpx.AsyncClient, owner: Tenant
) -> None:
    for _ in range(MAX_ENDPOINTS):
        assert (await create(client, owner)).status_code == 201
    refused = await create(client, owner)
    assert refused.status_code == 409
    assert str(MAX_ENDPOINTS) in refused.json()["detail"]
