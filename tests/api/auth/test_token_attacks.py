"""Attacks on the bearer token and on passwords (tests/api/auth/test_auth.py already
covers a token signed with another key, an expired one, one of type `refresh`, an unsigned
one with an HS256 header, garbage and a refresh token used as an access token).

Here: `alg: none` headers, other algorithms (HS384/HS512 with the right key, an RS256
header over an HMAC made with the key), a tampered signature or payload, missing or odd
claims, the web dashboard's session token, deleted and deactivated accounts; passwords
never in the logs nor in an answer; bcrypt's 72-byte limit refused rather than truncated.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import logging
import time
import uuid
from typing import Any

import httpx
import pytest
from jose import jwt
from sqlalchemy import text, update

from core.models import User
from core.settings import Settings
from tests.conftest import (
    PASSWORD,
    TEST_SECRET,
    Tenant,
    add_member,
    add_superuser,
    count_rows,
    register_tenant,
    superuser_headers,
)

ME = "/api/v1/users/me"
REFRESH = "/api/v1/auth/refresh"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _handmade(header: dict[str, Any], claims: dict[str, Any], key: bytes | None) -> str:
    """A JWT built by hand, so any header can be paired with any signature."""
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
    signature = (
        "" if key is None else _b64(hmac.new(key, signing_input.encode(), hashlib.sha256).digest())
    )
    return f"{signing_input}.{signature}"


def _claims(user_id: str, **changes: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {"sub": user_id, "type": "access", "iat": now, "exp": now + 600}
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


async def _refused(http: httpx.AsyncClient, token: str, path: str = ME) -> None:
    response = await http.get(path, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401, (token, response.text)
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json()["detail"] in ("Invalid or expired token", "Not authenticated")


async def test_a_well_made_token_is_accepted(client: httpx.AsyncClient, owner: Tenant) -> None:
    """The control for the attacks below: the same claims, HS256 with the key, work."""
    token = jwt.encode(_claims(owner.user_id), TEST_SECRET, algorithm="HS256")
    response = await client.get(ME, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    handmade = _handmade(
        {"alg": "HS256", "typ": "JWT"}, _claims(owner.user_id), TEST_SECRET.encode()
    )
    response = await client.get(ME, headers={"Authorization": f"Bearer {handmade}"})
    assert response.status_code == 200


@pytest.mark.parametrize("alg", ["none", "None", "NONE", "nOnE"])
async def test_alg_none_is_refused(alg: str, client: httpx.AsyncClient, owner: Tenant) -> None:
    claims = _claims(owner.user_id)
    await _refused(client, _handmade({"alg": alg, "typ": "JWT"}, claims, None))
    # ... also with a signature part present.
    await _refused(client, _handmade({"alg": alg}, claims, TEST_SECRET.encode()))


async def test_other_algorithms_are_refused_even_with_the_right_key(
    client: httpx.AsyncClient, owner: Tenant
) -> None:
    claims = _claims(owner.user_id)
    for alg in ("HS384", "HS512"):
        await _refused(client, jwt.encode(claims, TEST_SECRET, algorithm=alg))
    # Algorithm confusion: an RS256/ES256 header over an HMAC made with the secret key.
    for alg in ("RS256", "ES256", "PS256", "EdDSA"):
        await _refused(client, _handmade({"alg": alg, "typ": "JWT"}, claims, TEST_SECRET.encode()))
    # A header that points at a key of the attacker's choosing changes nothing.
    await _refused(
        client,
        _handmade(
            {"alg": "HS256", "kid": "../../dev/null", "jku": "https://evil.example/keys"},
            claims,
            b"",
        ),
    )


async def test_tampered_tokens_are_refused(client: httpx.AsyncClient, owner: Tenant) -> None:
    head, payload, signature = owner.access_token.split(".")
    flipped = signature[:-2] + ("A" if signature[-2] != "A" else "B") + signature[-1]
    await _refused(client, f"{head}.{payload}.{flipped}")
    await _refused(client, f"{head}.{payload}.")
    await _refused(client, f"{head}.{payload}")
    # Someone else's id in a payload that keeps the original signature.
    other = json.loads(base64.urlsafe_b64decode(payload + "=="))
    other["sub"] = str(uuid.uuid4())
    await _refused(client, f"{head}.{_b64(json.dumps(other).encode())}.{signature}")


async def test_missing_or_odd_claims_are_refused(client: httpx.AsyncClient, owner: Tenant) -> None:
    def sign(claims: dict[str, Any]) -> str:
        return jwt.encode(claims, TEST_SECRET, algorithm="HS256")

    for claims in (
        _claims(owner.user_id, exp=None),  # never expires: refused
        _claims(owner.user_id, sub=None),
        _claims(owner.user_id, type=None),
        _claims(owner.user_id, type="ACCESS"),
        _claims(owner.user_id, type="web"),
        _claims("not-a-uuid"),
        _claims(str(uuid.uuid4())),  # nobody
        _claims(owner.user_id, exp="tomorrow"),
        _claims(owner.user_id, exp=int(time.time()) - 1),
        _claims(owner.user_id, nbf=int(time.time()) + 3600),  # not valid yet
    ):
        await _refused(client, sign(claims))


async def test_the_web_dashboard_session_is_not_a_bearer_token(
    app: Any, client: httpx.AsyncClient, owner: Tenant, settings: Settings
) -> None:
    from api.web import session as web_session

    async with app.state.engine.connect() as conn:
        hashed = (
            await conn.execute(
                text("SELECT hashed_password FROM users WHERE email = :email"),
                {"email": owner.email},
            )
        ).scalar_one()
    cookie, _ = web_session.issue(settings, uuid.UUID(owner.user_id), hashed)
    await _refused(client, cookie)
    # ... and the API's access token is not a dashboard session either.
    control = await client.get(
        "/admin", headers={"Cookie": f"{web_session.SESSION_COOKIE}={cookie}"}
    )
    assert control.status_code == 200
    page = await client.get(
        "/admin",
        headers={"Cookie": f"{web_session.SESSION_COOKIE}={owner.access_token}"},
        follow_redirects=False,
    )
    assert page.status_code == 303
    assert page.headers["location"].startswith("/admin/login")


async def test_tokens_of_deleted_users_are_refused(
    client: httpx.AsyncClient, owner: Tenant
) -> None:
    staff = await add_member(client, owner)
    assert (await client.get(ME, headers=staff.headers)).status_code == 200
    members = (await client.get("/api/v1/business/members", headers=owner.headers)).json()
    row = next(m for m in members["items"] if m["user_id"] == staff.user_id)
    removed = await client.delete(f"/api/v1/business/members/{row['id']}", headers=owner.headers)
    assert removed.status_code == 204
    await _refused(client, staff.access_token)
    await _refused(client, staff.access_token, "/api/v1/clients")
    refreshed = await client.post(
        "/api/v1/auth/refresh", json={"refresh_token": staff.refresh_token}
    )
    assert refreshed.status_code == 401
    login = await client.post(
        "/api/v1/auth/token", data={"username": staff.email, "password": PASSWORD}
    )
    assert login.status_code == 401


async def test_parallel_refreshes_with_one_token_let_one_through_and_end_the_family(
    app: Any, client: httpx.AsyncClient, owner: Tenant
) -> None:
    """A stolen refresh token used by the thief and its owner at the same moment: one use
    wins, the others are reuse, which ends the family (the winner's new token too). Were
    they all let through, each copy could go on refreshing and the theft never show."""
    presented = {"refresh_token": owner.refresh_token}
    answers = await asyncio.gather(*(client.post(REFRESH, json=presented) for _ in range(6)))
    codes = sorted(answer.status_code for answer in answers)
    assert codes == [200, 401, 401, 401, 401, 401], codes
    [winner] = [answer.json() for answer in answers if answer.status_code == 200]
    again = await client.post(REFRESH, json={"refresh_token": winner["refresh_token"]})
    assert again.status_code == 401
    assert await count_rows(app, "app_events WHERE action = 'auth.refresh_token_reused'") >= 1
    assert await count_rows(app, "refresh_tokens WHERE revoked_at IS NULL") == 0


async def _deactivate(app: Any, user_id: str) -> None:
    async with app.state.sessionmaker() as session:
        await session.execute(
            update(User).where(User.id == uuid.UUID(user_id)).values(is_active=False)
        )
        await session.commit()


async def test_tokens_of_deactivated_users_are_refused(
    app: Any, client: httpx.AsyncClient, owner: Tenant
) -> None:
    staff = await add_member(client, owner)
    await _deactivate(app, staff.user_id)
    await _refused(client, staff.access_token)
    await _refused(client, staff.access_token, "/api/v1/clients")
    refreshed = await client.post(
        "/api/v1/auth/refresh", json={"refresh_token": staff.refresh_token}
    )
    assert refreshed.status_code == 401
    login = await client.post(
        "/api/v1/auth/token", data={"username": staff.email, "password": PASSWORD}
    )
    assert login.status_code == 401
    assert "access_token" not in login.text


async def test_a_deactivated_superuser_loses_the_admin_routes(
    app: Any, client: httpx.AsyncClient, owner: Tenant
) -> None:
    headers = await superuser_headers(app, client)
    assert (await client.get("/api/v1/admin/events", headers=headers)).status_code == 200
    me = (await client.get(ME, headers=headers)).json()
    await _deactivate(app, me["id"])
    refused = await client.get("/api/v1/admin/events", headers=headers)
    assert refused.status_code == 401
    scoped = await client.get(
        "/api/v1/clients", headers={**headers, "X-Business-Id": owner.business_id}
    )
    assert scoped.status_code == 401


# -- passwords ---------------------------------------------------------------------------


async def test_passwords_never_reach_the_logs(
    app: Any, client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    first, second, staff_password = (
        "Log-Canary-First-1",
        "Log-Canary-Second-2",
        "Log-Canary-Staff-3",
    )
    caplog.set_level(logging.DEBUG)
    email = "logged@example.com"
    registered = await client.post(
        "/api/v1/auth/register",
        json={"email": email, "password": first, "full_name": "L", "business_name": "L Ltd"},
    )
    assert registered.status_code == 201
    headers = {"Authorization": f"Bearer {registered.json()['access_token']}"}
    refresh_token = registered.json()["refresh_token"]
    for password in (first, "Log-Canary-Wrong-9"):
        await client.post("/api/v1/auth/token", data={"username": email, "password": password})
    await client.post(
        "/api/v1/auth/token", data={"username": "nobody@example.com", "password": first}
    )
    changed = await client.patch(
        ME, headers=headers, json={"password": second, "current_password": first}
    )
    assert changed.status_code == 200
    wrong = await client.patch(
        ME, headers=headers, json={"password": first, "current_password": "Log-Canary-Bad-0"}
    )
    assert wrong.status_code == 400
    await client.post(
        "/api/v1/business/members",
        headers=headers,
        json={"email": "s@example.com", "full_name": "S", "password": staff_password},
    )
    # A password refused by validation is not logged either.
    await client.post(
        "/api/v1/auth/register",
        json={
            "email": "v@example.com",
            "password": "Log-Canary-" + "x" * 70,
            "full_name": "V",
            "business_name": "V",
        },
    )
    await client.post("/api/v1/auth/refresh", json={"refresh_token": refresh_token})
    async with app.state.engine.connect() as conn:
        hashes = list((await conn.execute(text("SELECT hashed_password FROM users"))).scalars())

    def text_of(records: list[logging.LogRecord]) -> str:
        return "\n".join(f"{r.getMessage()} {r.args!r} {r.__dict__!r}" for r in records)

    assert caplog.records, "nothing was logged at all: the capture is not working"
    # Not even at DEBUG, where the SQLite driver logs every statement with its parameters.
    assert "Log-Canary" not in text_of(caplog.records)
    # Hashes and refresh tokens: not at INFO and above (LOG_LEVEL's default). At DEBUG,
    # aiosqlite's statement log does show the users row, hash included (SQLite only).
    logged = text_of([r for r in caplog.records if r.levelno >= logging.INFO])
    assert refresh_token not in logged
    for hashed in hashes:
        assert hashed not in logged


async def test_answers_never_return_a_password(client: httpx.AsyncClient, owner: Tenant) -> None:
    me = await client.get(ME, headers=owner.headers)
    changed = await client.patch(
        ME, headers=owner.headers, json={"password": "Changed-Pass-8", "current_password": PASSWORD}
    )
    for response in (me, changed):
        assert response.status_code == 200
        assert PASSWORD not in response.text
        assert "Changed-Pass-8" not in response.text
        assert "password" not in response.text
        assert "$2b$" not in response.text


async def test_bcrypt_limit_is_refused_at_72_bytes_not_truncated(
    client: httpx.AsyncClient, owner: Tenant
) -> None:
    base = {"email": "long@example.com", "full_name": "Long", "business_name": "Long Ltd"}
    exactly_72 = "Aa1-" + "x" * 68
    assert len(exactly_72.encode()) == 72
    too_long = exactly_72 + "y"
    euros = "Aa1" + "€" * 23  # 72 bytes in 26 characters
    assert len(euros.encode()) == 72
    for password in (too_long, "Aa1" + "€" * 24):  # 73 and 75 bytes
        refused = await client.post("/api/v1/auth/register", json={**base, "password": password})
        assert refused.status_code == 422, refused.text
        assert "72 bytes" in refused.json()["detail"]
    for where, body in (
        ("/api/v1/business/members", {"email": "m@example.com", "full_name": "M"}),
    ):
        refused = await client.post(
            where, headers=owner.headers, json={**body, "password": too_long}
        )
        assert refused.status_code == 422, refused.text
    refused = await client.patch(
        ME, headers=owner.headers, json={"password": too_long, "current_password": PASSWORD}
    )
    assert refused.status_code == 422

    # 72 bytes are accepted, and only the exact password opens the account: one that
    # shares those 72 bytes and goes on (which bcrypt alone would match) does not.
    for password in (exactly_72, euros):
        email = f"long-{uuid.uuid4().hex[:6]}@example.com"
        made = await client.post(
            "/api/v1/auth/register", json={**base, "email": email, "password": password}
        )
        assert made.status_code == 201, made.text
        ok = await client.post("/api/v1/auth/token", data={"username": email, "password": password})
        assert ok.status_code == 200
        for longer in (password + "y", password + "€", password + password):
            attempt = await client.post(
                "/api/v1/auth/token", data={"username": email, "password": longer}
            )
            assert attempt.status_code == 401, longer


async def test_a_superuser_token_and_another_users_token_are_not_interchangeable(
    app: Any, client: httpx.AsyncClient
) -> None:
    """A token made for one user never reaches another user's account or business."""
    a = await register_tenant(client, "Alpha")
    b = await register_tenant(client, "Beta")
    await add_superuser(app)
    me_a = (await client.get(ME, headers=a.headers)).json()
    me_b = (await client.get(ME, headers=b.headers)).json()
    assert me_a["id"] == a.user_id
    assert me_b["id"] == b.user_id
    assert me_a["is_superuser"] is False
    # A forged superuser claim in an otherwise valid token is ignored: the database decides.
    claims = _claims(a.user_id, is_superuser=True, role="owner", business_id=b.business_id)
    token = jwt.encode(claims, TEST_SECRET, algorithm="HS256")
    headers = {"Authorization": f"Bearer {token}"}
    assert (await client.get("/api/v1/admin/events", headers=headers)).status_code == 403
    business = await client.get("/api/v1/business", headers=headers)
    assert business.json()["id"] == a.business_id
