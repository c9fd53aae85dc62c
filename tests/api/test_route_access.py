"""Every API route declares who may call it: anonymous callers get 401 everywhere but the
few public auth routes, and the signed routes (Twilio's webhooks, unsubscribe links) refuse
callers without a valid signature."""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx

PUBLIC = {
    ("POST", "/api/v1/auth/register"),
    ("POST", "/api/v1/auth/token"),
    ("POST", "/api/v1/auth/refresh"),
    ("POST", "/api/v1/auth/logout"),
}
# Called by Twilio, or from a link in an email: a signature or a signed token stands in
# for a login, and a caller without one is refused all the same.
SIGNED = {
    ("POST", "/api/v1/webhooks/twilio/status"): 403,
    ("POST", "/api/v1/webhooks/twilio/inbound"): 403,
    ("GET", "/api/v1/unsubscribe/{token}"): 404,
    ("POST", "/api/v1/unsubscribe/{token}"): 404,
}


def _routes(app: Any) -> list[tuple[str, str]]:
    schema = app.openapi()
    return [
        (method.upper(), path)
        for path, operations in schema["paths"].items()
        if path.startswith("/api/v1/")
        for method in operations
    ]


async def test_every_private_route_refuses_anonymous_callers(
    app: Any, client: httpx.AsyncClient
) -> None:
    routes = _routes(app)
    assert len(routes) > 20  # the table really covers the API
    checked = 0
    for method, path in routes:
        if (method, path) in PUBLIC or (method, path) in SIGNED:
            continue
        url = re.sub(r"\{[^}]+\}", str(uuid.uuid4()), path)
        response = await client.request(method, url, json={})
        assert response.status_code == 401, (method, path, response.status_code)
        assert response.headers.get("www-authenticate") == "Bearer"
        checked += 1
    assert checked == len(routes) - len(PUBLIC) - len(SIGNED)


async def test_signed_routes_refuse_callers_without_a_signature(
    app: Any, client: httpx.AsyncClient
) -> None:
    routes = set(_routes(app))
    for (method, path), refused in SIGNED.items():
        assert (method, path) in routes
        url = re.sub(r"\{[^}]+\}", str(uuid.uuid4()), path)
        response = await client.request(method, url, data={"From": "+447911123456"})
        assert response.status_code == refused, (method, path, response.status_code)
        assert response.json()["detail"]


async def test_public_auth_routes_answer_anonymous_callers_without_401_for_shape(
    client: httpx.AsyncClient,
) -> None:
    # With an empty body they are bad requests, not authentication failures.
    for path in ("/api/v1/auth/register", "/api/v1/auth/refresh", "/api/v1/auth/logout"):
        response = await client.post(path, json={})
        assert response.status_code == 422, path
