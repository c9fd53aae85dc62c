"""Headers and transport: security headers on every answer, unknown hosts refused, plain
http sent to https with HSTS once there, CORS only for the configured origins."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from api.main import create_app
from core.settings import Settings
from tests.conftest import count_rows

HOST = "reminders.example.com"


@pytest.fixture
async def hardened(settings: Settings) -> AsyncIterator[Any]:
    """The app as production runs it: one allowed host, https only, CORS for one origin."""
    app = create_app(
        settings.model_copy(
            update={
                "ALLOWED_HOSTS": [HOST],
                "FORCE_HTTPS": True,
                "CORS_ORIGINS": ["https://app.example.com"],
            }
        )
    )
    yield app
    await app.state.engine.dispose()


def _client(app: Any, base_url: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=base_url)


async def test_every_answer_carries_the_security_headers(client: httpx.AsyncClient) -> None:
    for method, path in (
        ("GET", "/api/v1/users/me"),  # 401
        ("GET", "/healthz"),
        ("POST", "/api/v1/auth/token"),  # 422
        ("GET", "/no/such/path"),  # 404
    ):
        response = await client.request(method, path)
        assert response.headers["x-content-type-options"] == "nosniff", path
        assert response.headers["x-frame-options"] == "DENY", path
        assert response.headers["referrer-policy"] == "same-origin", path
        assert response.headers["content-security-policy"].startswith("default-src 'none'")
        # Development over plain http: no HSTS (it would pin browsers to https on localhost).
        assert "strict-transport-security" not in response.headers


async def test_the_dashboard_keeps_its_own_policy_and_gets_the_rest(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/admin/login")
    assert "script-src 'self'" in response.headers["content-security-policy"]
    assert response.headers.get_list("content-security-policy") == [
        response.headers["content-security-policy"]
    ]
    assert response.headers["x-frame-options"] == "DENY"


async def test_an_unknown_host_is_refused_and_changes_nothing(hardened: Any) -> None:
    before = await count_rows(hardened, "users")
    async with _client(hardened, "https://evil.example.net") as http:
        response = await http.post(
            "/api/v1/auth/register",
            json={
                "email": "mallory@example.com",
                "password": "Correct-Horse-7",
                "full_name": "Mallory",
                "business_name": "Evil",
            },
        )
    assert response.status_code == 400
    assert response.json() == {"detail": "Invalid Host header"}
    assert await count_rows(hardened, "users") == before


async def test_plain_http_is_redirected_to_https_without_being_served(hardened: Any) -> None:
    async with _client(hardened, f"http://{HOST}") as http:
        response = await http.get("/api/v1/users/me?x=1")
    assert response.status_code == 308
    assert response.headers["location"] == f"https://{HOST}/api/v1/users/me?x=1"
    assert "strict-transport-security" not in response.headers


async def test_https_answers_carry_hsts(hardened: Any) -> None:
    async with _client(hardened, f"https://{HOST}") as http:
        response = await http.get("/api/v1/users/me")
    assert response.status_code == 401
    assert response.headers["strict-transport-security"].startswith("max-age=31536000")


async def test_probes_reach_health_by_ip_over_plain_http(hardened: Any) -> None:
    async with _client(hardened, "http://10.0.0.7:8000") as http:
        assert (await http.get("/healthz")).status_code == 200
        assert (await http.get("/api/v1/users/me")).status_code == 400


async def test_cors_answers_only_the_configured_origin(hardened: Any) -> None:
    async with _client(hardened, f"https://{HOST}") as http:
        allowed = await http.options(
            "/api/v1/users/me",
            headers={"Origin": "https://app.example.com", "Access-Control-Request-Method": "GET"},
        )
        other = await http.options(
            "/api/v1/users/me",
            headers={"Origin": "https://evil.example.net", "Access-Control-Request-Method": "GET"},
        )
    assert allowed.headers["access-control-allow-origin"] == "https://app.example.com"
    assert "access-control-allow-origin" not in other.headers


def test_production_defaults_to_the_public_hosts_and_https() -> None:
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        ENV="production",
        PUBLIC_BASE_URL="https://reminders.example.com",
    )
    assert settings.allowed_hosts == ["reminders.example.com"]
    assert settings.https_only is True
    development = Settings(_env_file=None)  # type: ignore[call-arg]
    assert development.allowed_hosts == []
    assert development.https_only is False
