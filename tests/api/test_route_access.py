"""Every API route declares who may call it: anonymous callers get 401 everywhere but the
few public auth routes."""

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
        if (method, path) in PUBLIC:
            continue
        url = re.sub(r"\{[^}]+\}", str(uuid.uuid4()), path)
        response = await client.request(method, url, json={})
        assert response.status_code == 401, (method, path, response.status_code)
        assert response.headers.get("www-authenticate") == "Bearer"
        checked += 1
    assert checked == len(routes) - len(PUBLIC)


async def test_public_auth_routes_answer_anonymous_callers_without_401_for_shape(
    client: httpx.AsyncClient,
) -> None:
    # With an empty body they are bad requests, not authentication failures.
    for path in ("/api/v1/auth/register", "/api/v1/auth/refresh", "/api/v1/auth/logout"):
        response = await client.post(path, json={})
        assert response.status_code == 422, path
