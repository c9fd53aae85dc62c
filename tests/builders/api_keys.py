"""API keys made through the API, and the headers that carry them."""

from __future__ import annotations

from typing import Any

import httpx

from tests.conftest import Tenant

KEYS_PATH = "/api/v1/api-keys"


async def make_key(
    http: httpx.AsyncClient,
    owner: Tenant,
    scopes: tuple[str, ...] = ("read", "write"),
    **extra: Any,
) -> dict[str, Any]:
    """The created key's answer (with `key`, the key in clear)."""
    body = {"name": f"Practice software {'+'.join(scopes)}", "scopes": list(scopes), **extra}
    response = await http.post(KEYS_PATH, headers=owner.headers, json=body)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def x_api_key(key: str) -> dict[str, str]:
    return {"X-API-Key": key}
