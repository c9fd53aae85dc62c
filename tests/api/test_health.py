"""Liveness, readiness (each dependency reported on its own) and the API docs."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from api.main import create_app
from core.settings import Settings
from tests.conftest import TEST_SECRET


async def test_healthz_answers_without_dependencies(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_readyz_reports_temporal_down_separately(client: httpx.AsyncClient) -> None:
    # The test settings point Temporal at a closed port.
    response = await client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "degraded"
    assert body["checks"]["database"] == {"ok": True}
    assert body["checks"]["temporal"]["ok"] is False
    assert body["checks"]["temporal"]["error"]
    assert body["checks"]["redis"]["ok"] is True


def _test_server_path() -> str | None:
    candidate = Path(sys.executable).parent / "temporal-test-server"
    return str(candidate) if candidate.exists() else None


async def test_readyz_is_200_when_database_and_temporal_answer(
    app: Any, client: httpx.AsyncClient
) -> None:
    from temporalio.testing import WorkflowEnvironment

    server = _test_server_path()
    if server is None:
        pytest.fail("temporal-test-server is not installed next to the interpreter")
    connector = app.state.temporal
    async with await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=server
    ) as env:
        connector.set_client(env.client)
        try:
            response = await client.get("/readyz")
        finally:
            connector._client = None
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "ok"
    assert all(check["ok"] for check in response.json()["checks"].values())


async def test_database_down_gives_503_not_500_and_readyz_says_so() -> None:
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        ENV="testing",
        SECRET_KEY=TEST_SECRET,
        DATABASE_URL="postgresql+psycopg://postgres@127.0.0.1:1/nowhere",
        TEMPORAL_ADDRESS="127.0.0.1:1",
    )
    app = create_app(settings)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        ready = await http.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["checks"]["database"]["ok"] is False
        response = await http.post(
            "/api/v1/auth/token", data={"username": "a@example.com", "password": "Whatever-1"}
        )
        assert response.status_code == 503
        assert "Database unavailable" in response.json()["detail"]
    await app.state.engine.dispose()


async def test_swagger_docs_and_openapi_are_served(client: httpx.AsyncClient) -> None:
    docs = await client.get("/docs")
    assert docs.status_code == 200
    assert "swagger" in docs.text.lower()
    schema = (await client.get("/openapi.json")).json()
    assert "/api/v1/auth/token" in schema["paths"]
    # Swagger's Authorize button uses the OAuth2 password flow against our token URL.
    schemes = schema["components"]["securitySchemes"]
    flow = next(iter(schemes.values()))["flows"]["password"]
    assert flow["tokenUrl"] == "/api/v1/auth/token"
