"""Bad input of every kind gets a 4xx with a useful `detail` and changes nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx

from tests.conftest import PASSWORD, Tenant, count_rows

REGISTER = "/api/v1/auth/register"


def _registration(**overrides: Any) -> dict[str, Any]:
    return {
        "email": "new@example.com",
        "password": PASSWORD,
        "full_name": "New Person",
        "business_name": "New Co",
        **overrides,
    }


async def test_malformed_json_is_400_with_detail(client: httpx.AsyncClient, app: Any) -> None:
    response = await client.post(
        REGISTER, content=b'{"email": "a@b.com", ', headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert "Malformed JSON" in response.json()["detail"]
    assert await count_rows(app, "users") == 0


async def test_wrong_types_and_missing_fields_name_the_field(
    client: httpx.AsyncClient, app: Any
) -> None:
    cases = [
        (_registration(email=12), "email"),
        (_registration(email="not-an-email"), "email"),
        (_registration(full_name=["x"]), "full_name"),
        ({"email": "a@example.com"}, "password"),
        (_registration(business_id="00000000-0000-0000-0000-000000000000"), "business_id"),
        (_registration(role="superuser"), "role"),
        ([1, 2, 3], "body"),
        ("just a string", "body"),
    ]
    for body, field in cases:
        response = await client.post(REGISTER, json=body)
        assert response.status_code == 422, (body, response.text)
        assert field in response.json()["detail"], (body, response.json())
    assert await count_rows(app, "users") == 0


async def test_validation_errors_never_echo_the_password(client: httpx.AsyncClient) -> None:
    secret = "Sup3r-secret-but-no-email"
    response = await client.post(REGISTER, json=_registration(email="nope", password=secret))
    assert response.status_code == 422
    assert secret not in response.text


async def test_oversized_body_is_413_and_stores_nothing(
    client: httpx.AsyncClient, app: Any
) -> None:
    huge = _registration(full_name="x" * 2_000_000)
    response = await client.post(REGISTER, json=huge)
    assert response.status_code == 413
    assert "larger than" in response.json()["detail"]

    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"email": "a@example.com", "full_name": "'
        for _ in range(40):
            yield b"x" * 65536
        yield b'"}'

    streamed = await client.post(
        REGISTER, content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert streamed.status_code == 413
    assert await count_rows(app, "users") == 0


async def test_unknown_enum_value_is_422(client: httpx.AsyncClient, owner: Tenant) -> None:
    response = await client.patch(
        "/api/v1/business", headers=owner.headers, json={"default_channels": ["pigeon"]}
    )
    assert response.status_code == 422
    assert "default_channels" in response.json()["detail"]


async def test_login_form_missing_fields_is_422(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/v1/auth/token", data={"username": "a@example.com"})
    assert response.status_code == 422
    assert "password" in response.json()["detail"]
    as_json = await client.post(
        "/api/v1/auth/token", json={"username": "a@example.com", "password": "x"}
    )
    assert as_json.status_code == 422


async def test_overlong_password_at_login_is_401_not_500(
    client: httpx.AsyncClient, owner: Tenant
) -> None:
    response = await client.post(
        "/api/v1/auth/token", data={"username": owner.email, "password": PASSWORD + "é" * 100}
    )
    assert response.status_code == 401


async def test_unknown_route_and_method_are_json_4xx(client: httpx.AsyncClient) -> None:
    missing = await client.get("/api/v1/nothing-here")
    assert missing.status_code == 404
    assert missing.json()["detail"]
    wrong = await client.put("/api/v1/auth/register", json={})
    assert wrong.status_code == 405
    assert wrong.json()["detail"]


async def test_nul_characters_are_422_on_every_path(
    client: httpx.AsyncClient, owner: Tenant, app: Any
) -> None:
    users = await count_rows(app, "users")
    register = await client.post(REGISTER, json=_registration(full_name="Ann\x00"))
    assert register.status_code == 422
    assert "NUL" in register.json()["detail"]
    login = await client.post(
        "/api/v1/auth/token", data={"username": "a\x00@example.com", "password": "x"}
    )
    assert login.status_code in (401, 422)
    patch = await client.patch("/api/v1/business", headers=owner.headers, json={"name": "X\x00"})
    assert patch.status_code == 422
    assert await count_rows(app, "users") == users
