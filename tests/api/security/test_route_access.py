"""Every API route declares who may call it.

`TABLE` (tests/builders/routes.py, with the business it is tried on) names every route of the
OpenAPI schema under /api/v1 with its category and what an authorized caller gets; a route
missing from it fails the suite. Each route is then called as anonymous, a member of
business A, the owner of business B, a superuser without and with `X-Business-Id: A`, and
A's owner, with the ids of real objects of A in the path (and in the body where one refers
to them):

- anonymous: 401 everywhere but the public auth routes and the signed routes;
- B's owner on A's objects: 404, exactly like an id that does not exist;
- A's member on owner-only routes: 403;
- anyone but a superuser on /admin/*: 403;
- a superuser acts on a business only through `X-Business-Id` (404 without it);
- an API key (A's in X-API-Key, B's as a bearer token) acts as a member of its business:
  401 on the caller's account, admin and key routes, 403 on owner-only ones, and B's key
  on A's objects gets B's owner's 404.

An authorized caller may get 503 where the route needs Temporal (not running here); an
unauthorized one never does, nor a 422: authorization is decided before the body is read.
"""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

import httpx

from tests.builders.routes import (
    ADMIN,
    ANONYMOUS,
    HTML_ROUTES,
    KEY,
    MEMBER,
    OTHER_KEY,
    OTHER_OWNER,
    OWNER,
    OWNER_ONLY,
    PEOPLE_OWNERS,
    PUBLIC,
    SIGNED,
    SUPERUSER,
    SUPERUSER_BARE,
    TABLE,
    TWILIO_PATH,
    USER,
    body_for,
    build_world,
    url_for,
)
from tests.conftest import Tenant

# Routes on an object that has no id, one per business: deleting it means making it again.
SINGLETONS = {TWILIO_PATH: ("twilio",)}

# -- what each caller gets ----------------------------------------------------------------

# Unauthorized callers first: an authorized DELETE removes the object (it is made again).
CALLERS = (ANONYMOUS, MEMBER, OTHER_OWNER, OTHER_KEY, SUPERUSER_BARE, OWNER, SUPERUSER, KEY)
KEYS = (KEY, OTHER_KEY)
# Callers acting on business B, with A's ids.
ON_B = (OTHER_OWNER, OTHER_KEY)


def expected_status(route: tuple[str, str], caller: str) -> int:
    rule = TABLE[route]
    on_object = "{" in route[1]
    if rule.category in (PUBLIC, SIGNED):
        return rule.ok
    if caller == ANONYMOUS:
        return 401
    if caller in KEYS and rule.category in (USER, ADMIN, PEOPLE_OWNERS):
        return 401  # people only: a key is no way to an account, the platform or the keys
    if rule.category == USER:
        return rule.ok
    if rule.category == ADMIN:
        return rule.ok if caller in (SUPERUSER, SUPERUSER_BARE) else 403
    # BUSINESS and owners': a business is needed, and A's objects are A's alone.
    if caller == SUPERUSER_BARE:
        return 404
    if caller in (MEMBER, *KEYS) and rule.category in (OWNER_ONLY, PEOPLE_OWNERS):
        return 403
    if caller in ON_B:
        if on_object:
            return 404
        return rule.other if rule.other is not None else rule.ok
    return rule.ok


# -- routes and paths ---------------------------------------------------------------------


def path_params(path: str) -> list[str]:
    return re.findall(r"\{([^}]+)\}", path)


def api_routes(app: Any) -> list[tuple[str, str]]:
    schema = app.openapi()
    return [
        (method.upper(), path)
        for path, operations in schema["paths"].items()
        if path.startswith("/api/v1/")
        for method in operations
    ]


def _swap(value: Any, mapping: dict[str, str]) -> Any:
    text = json.dumps(value)
    for old, new in mapping.items():
        text = text.replace(old, new)
    return json.loads(text)


# -- the tests ----------------------------------------------------------------------------


def test_every_route_is_in_the_table(app: Any) -> None:
    routes = api_routes(app)
    assert len(routes) == len(set(routes))
    missing = sorted(set(routes) - set(TABLE))
    stale = sorted(set(TABLE) - set(routes))
    assert not missing, f"routes without an access rule in TABLE: {missing}"
    assert not stale, f"TABLE names routes that no longer exist: {stale}"


async def test_every_route_answers_each_caller_as_the_table_says(
    app: Any, client: httpx.AsyncClient
) -> None:
    world = await build_world(app, client)
    wrong: list[str] = []
    calls = 0
    for route in api_routes(app):
        assert route in TABLE, f"{route} is not in TABLE"
        method, path = route
        for caller in CALLERS:
            want = expected_status(route, caller)
            url = url_for(world, path, world.ids)
            response = await client.request(
                method, url, headers=world.headers(caller), **body_for(world, route)
            )
            calls += 1
            if response.status_code != want:
                wrong.append(f"{caller}: {method} {path} -> {response.status_code}, want {want}")
                continue
            if want == 401:
                assert response.headers.get("www-authenticate") == "Bearer", (route, caller)
            if route in HTML_ROUTES:
                assert response.headers["content-type"].startswith("text/html"), route
            elif response.status_code >= 400:
                assert response.json()["detail"], (route, caller)
            if caller in ON_B and want in (404, 422) and route not in HTML_ROUTES:
                # Exactly like ids that do not exist: same status, same answer.
                fresh = {name: str(uuid.uuid4()) for name in ("client_id", *path_params(path))}
                ids = {**world.ids, **fresh}
                body = _swap(body_for(world, route), {world.ids["client_id"]: fresh["client_id"]})
                absent = await client.request(
                    method, url_for(world, path, ids), headers=world.headers(caller), **body
                )
                back = {new: world.ids[name] for name, new in fresh.items()}
                assert absent.status_code == want, (route, absent.text)
                assert _swap(absent.json(), back) == response.json(), (route, absent.text)
            if method == "DELETE" and response.status_code == 204:
                for name in path_params(path) or SINGLETONS.get(path, ()):
                    await world.make(name)
    assert not wrong, "\n".join(wrong)
    assert calls == len(TABLE) * len(CALLERS)


async def test_refused_callers_are_refused_before_the_body_is_validated(
    app: Any, client: httpx.AsyncClient
) -> None:
    """A body that is all wrong changes nothing for a caller who may not call the route:
    401, 403 or 404 as with a good body, never a 422 that would answer before them."""
    world = await build_world(app, client)
    bad_bodies: list[dict[str, Any]] = [
        {"json": {"unexpected": "field", "business_id": world.other.business_id}},
        {"json": ["not", "an", "object"]},
        {"content": b"\x00\xff not json", "headers_extra": {"Content-Type": "text/plain"}},
    ]
    checked = 0
    for route in api_routes(app):
        method, path = route
        if TABLE[route].category in (PUBLIC, SIGNED) or method in ("GET", "DELETE"):
            continue
        for caller in CALLERS:
            want = expected_status(route, caller)
            if want not in (401, 403, 404):
                continue
            if caller in ON_B and not path_params(path):
                continue  # B acts on B there: its 404 is about the body's ids, read from it
            for bad in bad_bodies:
                kwargs = dict(bad)
                headers = {**world.headers(caller), **kwargs.pop("headers_extra", {})}
                response = await client.request(
                    method, url_for(world, path, world.ids), headers=headers, **kwargs
                )
                assert response.status_code == want, (caller, method, path, bad, response.text)
                checked += 1
    assert checked > 50


async def test_refused_callers_are_refused_before_the_query_is_validated(
    app: Any, client: httpx.AsyncClient
) -> None:
    world = await build_world(app, client)
    bad_query = {"limit": "0", "offset": "-1", "since": "nope", "days": "0", "status": "x"}
    checked = 0
    for route in api_routes(app):
        method, path = route
        if method != "GET" or TABLE[route].category in (PUBLIC, SIGNED):
            continue
        for caller in CALLERS:
            want = expected_status(route, caller)
            if want not in (401, 403, 404):
                continue
            response = await client.get(
                url_for(world, path, world.ids), headers=world.headers(caller), params=bad_query
            )
            assert response.status_code == want, (caller, path, response.text)
            checked += 1
    assert checked > 30


async def test_malformed_json_is_refused_before_authentication_and_tells_nothing(
    client: httpx.AsyncClient,
) -> None:
    """FastAPI parses a JSON body before it runs the route's dependencies, so a body that
    is not JSON at all is a 400 even for an anonymous caller. It names no object and
    depends on nothing but the bytes sent, so it tells the caller nothing; noted here so
    a change in that order is seen."""
    answers = []
    for method, path in (("POST", "/api/v1/clients"), ("PATCH", f"/api/v1/clients/{uuid.uuid4()}")):
        response = await client.request(
            method, path, content=b"{not json", headers={"Content-Type": "application/json"}
        )
        assert response.status_code == 400, response.text
        answers.append(response.json())
    assert answers[0] == answers[1] == {"detail": "Malformed JSON in request body"}


async def test_malformed_ids_answer_like_missing_ones(app: Any, client: httpx.AsyncClient) -> None:
    world = await build_world(app, client)
    for route in api_routes(app):
        method, path = route
        params = [p for p in path_params(path) if p != "token"]
        if not params:
            continue
        bad = {**world.ids, **{name: "not-a-uuid" for name in params}}
        missing = {**world.ids, **{name: str(uuid.uuid4()) for name in params}}
        kwargs = body_for(world, route)
        # Admin routes answer superusers only; everyone else's 403 says nothing about ids.
        headers = world.headers(SUPERUSER_BARE if TABLE[route].category == ADMIN else OWNER)
        malformed = await client.request(
            method, url_for(world, path, bad), headers=headers, **kwargs
        )
        absent = await client.request(
            method, url_for(world, path, missing), headers=headers, **kwargs
        )
        assert absent.status_code == 404, (route, absent.text)
        assert malformed.status_code == 404, (route, malformed.text)


async def test_member_of_a_cannot_reach_b_through_x_business_id(
    client: httpx.AsyncClient, owner: Tenant, member: Tenant, other_owner: Tenant
) -> None:
    made = await client.post(
        "/api/v1/clients", headers=other_owner.headers, json={"name": "Rival Client"}
    )
    assert made.status_code == 201
    headers = {**member.headers, "X-Business-Id": other_owner.business_id}
    response = await client.get("/api/v1/business", headers=headers)
    assert response.json()["id"] == owner.business_id
    listing = await client.get("/api/v1/clients", headers=headers)
    assert listing.json()["total"] == 0
    foreign = await client.get(f"/api/v1/clients/{made.json()['id']}", headers=headers)
    assert foreign.status_code == 404


async def test_public_auth_routes_answer_anonymous_callers_without_401_for_shape(
    client: httpx.AsyncClient,
) -> None:
    # With an empty body they are bad requests, not authentication failures.
    for path in ("/api/v1/auth/register", "/api/v1/auth/refresh", "/api/v1/auth/logout"):
        response = await client.post(path, json={})
        assert response.status_code == 422, path
