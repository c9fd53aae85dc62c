"""No answer carries a secret: no password or password hash, no refresh token (or its
hash), no API key (in clear, but in the answer that made it, or its hash), no provider secret (SMTP password, Twilio auth token, Temporal API key, encryption
keys) and never the SECRET_KEY. Every GET route is walked as A's owner, A's member and a
superuser acting on A and A's API key, the admin routes as a superuser, with provider secrets configured,
after the kind of activity that writes events (logins, a password change, refreshes)."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from sqlalchemy import text

from core.settings import Settings
from tests.builders.routes import (
    ADMIN,
    EMAIL_CONFIG_PASSWORD,
    KEY,
    MEMBER,
    OWNER,
    PEOPLE_OWNERS,
    RIVAL_TWILIO_TOKEN,
    SUPERUSER,
    TABLE,
    TWILIO_CONFIG_TOKEN,
    USER,
    World,
    body_for,
    build_world,
    url_for,
)
from tests.conftest import PASSWORD, TEST_SECRET, TWILIO_TOKEN, Tenant

SMTP_SECRET = "smtp-pass-W0rd-leak-canary"
TEMPORAL_SECRET = "temporal-api-key-leak-canary"
# A real Fernet key: it encrypts the email configurations the walk creates.
ENCRYPTION_SECRET = "ZmVybmV0LWtleS1sZWFrLWNhbmFyeS0wMTIzNDU2ISE="
ADMIN_SECRET = "Admin-Pass-leak-canary-9"
NEW_PASSWORD = "Brand-New-Pass-42"

# Keys no answer may carry, whatever their value.
SECRET_KEY_NAMES = re.compile(
    r"password|passwd|hashed|token_hash|secret|auth_token|api_key|refresh_token|"
    r"access_token|credential|private_key|encryption",
    re.IGNORECASE,
)
# Flags that say a secret is stored, never what it is.
ALLOWED_KEYS = {"has_password", "has_auth_token"}


def keys_of(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield str(key)
            yield from keys_of(item)
    elif isinstance(value, list):
        for item in value:
            yield from keys_of(item)


@asynccontextmanager
async def secret_app(
    settings: Settings, **overrides: Any
) -> AsyncIterator[tuple[Any, httpx.AsyncClient]]:
    """The app with every provider secret set (the sandbox backends still send)."""
    from api.main import create_app

    app = create_app(
        settings.model_copy(
            update={
                "SMTP_HOST": "smtp.example.test",
                "SMTP_USERNAME": "mailer",
                "SMTP_PASSWORD": SMTP_SECRET,
                "TEMPORAL_API_KEY": TEMPORAL_SECRET,
                "ENCRYPTION_KEYS": ENCRYPTION_SECRET,
                "ADMIN_EMAIL": "root@example.test",
                "ADMIN_PASSWORD": ADMIN_SECRET,
                **overrides,
            }
        )
    )
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            yield app, http
    finally:
        await app.state.engine.dispose()
        if app.state.redis is not None:
            await app.state.redis.aclose()
        throttle = getattr(app.state, "throttle", None)
        if throttle is not None:
            await throttle.close()


async def _stored_secrets(app: Any) -> list[str]:
    """Every password hash, refresh-token and API key hash and encrypted secret in the database."""
    async with app.state.engine.connect() as conn:
        hashes = (await conn.execute(text("SELECT hashed_password FROM users"))).scalars()
        tokens = (await conn.execute(text("SELECT token_hash FROM refresh_tokens"))).scalars()
        keys = (await conn.execute(text("SELECT key_hash FROM api_keys"))).scalars()
        sealed = (
            await conn.execute(
                text(
                    "SELECT password_encrypted FROM email_configurations "
                    "WHERE password_encrypted IS NOT NULL "
                    "UNION ALL SELECT auth_token_encrypted FROM twilio_credentials"
                )
            )
        ).scalars()
        return [*hashes, *tokens, *keys, *sealed]


async def _activity(http: httpx.AsyncClient, world: World) -> list[str]:
    """Logins, a failed login, refreshes and a password change; answers the refresh tokens
    that were handed out along the way."""
    tokens = [world.owner.refresh_token, world.member.refresh_token, world.other.refresh_token]
    login = await http.post(
        "/api/v1/auth/token", data={"username": world.owner.email, "password": PASSWORD}
    )
    tokens.append(login.json()["refresh_token"])
    await http.post(
        "/api/v1/auth/token", data={"username": world.owner.email, "password": "Wrong-Pass-1"}
    )
    refreshed = await http.post(
        "/api/v1/auth/refresh", json={"refresh_token": login.json()["refresh_token"]}
    )
    tokens.append(refreshed.json()["refresh_token"])
    changed = await http.patch(
        "/api/v1/users/me",
        headers=world.member.headers,
        json={"password": NEW_PASSWORD, "current_password": PASSWORD},
    )
    assert changed.status_code == 200, changed.text
    await http.patch("/api/v1/business", headers=world.owner.headers, json={"name": "Acme Two"})
    return tokens


def _scan(where: str, response: httpx.Response, secrets: list[str], keys: bool = True) -> list[str]:
    found = []
    for secret in secrets:
        if secret and secret in response.text:
            found.append(f"{where}: carries {secret[:12]}...")
    if keys and "json" in response.headers.get("content-type", ""):
        for key in keys_of(response.json()):
            if SECRET_KEY_NAMES.search(key) and key not in ALLOWED_KEYS:
                found.append(f"{where}: has a key named {key!r}")
    return found


async def test_no_get_answer_carries_a_secret(app: Any, settings: Settings) -> None:
    async with secret_app(settings) as (configured, http):
        world = await build_world(configured, http)
        tokens = await _activity(http, world)
        secrets = [
            TEST_SECRET,
            TWILIO_TOKEN,
            SMTP_SECRET,
            TEMPORAL_SECRET,
            ENCRYPTION_SECRET,
            ADMIN_SECRET,
            EMAIL_CONFIG_PASSWORD,
            TWILIO_CONFIG_TOKEN,
            RIVAL_TWILIO_TOKEN,
            PASSWORD,
            NEW_PASSWORD,
            *tokens,
            *world.clear_keys,
            *(await _stored_secrets(app)),
        ]
        assert len(secrets) > 15
        leaks: list[str] = []
        walked = 0
        for (method, path), rule in TABLE.items():
            if method != "GET" or "{token}" in path:
                continue
            callers = (SUPERUSER,) if rule.category == ADMIN else (OWNER, MEMBER, SUPERUSER, KEY)
            for caller in callers:
                response = await http.get(
                    url_for(world, path, world.ids),
                    headers=world.headers(caller),
                    **body_for(world, (method, path)),
                )
                # Owner-only for a member or a key, account routes for a key; Temporal
                if response.status_code in (403, 503) or (
                    caller == KEY and rule.category in (USER, PEOPLE_OWNERS)
                ):
                    continue
                assert response.status_code == 200, (caller, path, response.text)
                leaks += _scan(f"{caller} GET {path}", response, secrets)
                walked += 1
        for path in ("/healthz", "/readyz", "/metrics", "/openapi.json", "/docs"):
            response = await http.get(path)
            # The schema describes the password fields (names only): values are scanned.
            leaks += _scan(f"GET {path}", response, secrets, keys=path != "/openapi.json")
        assert walked > 40
        assert not leaks, "\n".join(leaks)


async def test_auth_answers_carry_only_the_callers_own_tokens(
    app: Any, client: httpx.AsyncClient, owner: Tenant, member: Tenant, other_owner: Tenant
) -> None:
    others = [member.refresh_token, other_owner.refresh_token, PASSWORD, TEST_SECRET]
    login = await client.post(
        "/api/v1/auth/token", data={"username": owner.email, "password": PASSWORD}
    )
    refreshed = await client.post(
        "/api/v1/auth/refresh", json={"refresh_token": login.json()["refresh_token"]}
    )
    registered = await client.post(
        "/api/v1/auth/register",
        json={
            "email": "newcomer@example.com",
            "password": PASSWORD,
            "full_name": "Newcomer",
            "business_name": "Newcomer Ltd",
        },
    )
    secrets = [*others, *(await _stored_secrets(app))]
    for response in (login, refreshed, registered):
        assert response.status_code in (200, 201), response.text
        assert not [s for s in secrets if s in response.text], response.text
        assert "hashed" not in response.text
        assert "password" not in response.text
    assert set(login.json()) == {"access_token", "refresh_token", "token_type", "expires_in"}
    added = await client.post(
        "/api/v1/business/members",
        headers=owner.headers,
        json={"email": "new-staff@example.com", "full_name": "New", "password": NEW_PASSWORD},
    )
    assert added.status_code == 201
    assert NEW_PASSWORD not in added.text
    assert "password" not in added.text


async def test_error_answers_never_echo_a_password_or_a_token(
    client: httpx.AsyncClient, app: Any
) -> None:
    canary = "Leaky-Canary-Pass-7" + "x" * 60  # too long for bcrypt: refused
    base = {"email": "x@example.com", "full_name": "X", "business_name": "X"}
    answers = [
        await client.post("/api/v1/auth/register", json={**base, "password": canary}),
        await client.post("/api/v1/auth/register", json={**base, "password": ["Leaky-Canary"]}),
        await client.post("/api/v1/auth/token", data={"username": "x", "password": canary}),
        await client.post("/api/v1/auth/refresh", json={"refresh_token": canary}),
        await client.post("/api/v1/auth/refresh", json={"refresh_token": "Leaky-Canary" * 30}),
        await client.get("/api/v1/users/me", headers={"Authorization": f"Bearer {canary}"}),
    ]
    for response in answers:
        assert 400 <= response.status_code < 500, response.text
        assert "Leaky-Canary" not in response.text, response.text
        assert TEST_SECRET not in response.text


async def test_readiness_errors_carry_no_credentials(settings: Settings) -> None:
    """Connection strings with passwords in them are never part of /readyz's errors."""
    async with secret_app(
        settings,
        DATABASE_URL="postgresql+psycopg://reminders:db-pass-leak-canary@127.0.0.1:1/reminders",
        REDIS_URL="redis://:redis-pass-leak-canary@127.0.0.1:1/0",
        TEMPORAL_ADDRESS="127.0.0.1:1",
    ) as (_, http):
        response = await http.get("/readyz")
    assert response.status_code == 503
    body = json.dumps(response.json())
    assert not response.json()["checks"]["database"]["ok"]
    assert not response.json()["checks"]["redis"]["ok"]
    for secret in ("db-pass-leak-canary", "redis-pass-leak-canary", TEMPORAL_SECRET, SMTP_SECRET):
        assert secret not in body, body
