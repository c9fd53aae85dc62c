"""Templates: CRUD with syntax checks, unique names, and previews rendered in the sandbox."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from core.models import Client
from tests.conftest import Tenant, count_rows

URL = "/api/v1/templates"
PREVIEW = f"{URL}/preview"


async def create(http: httpx.AsyncClient, tenant: Tenant, **body: Any) -> dict[str, Any]:
    body.setdefault("body", "Hi {{ client.name }}")
    response = await http.post(URL, headers=tenant.headers, json=body)
    assert response.status_code == 201, response.text
    return response.json()


async def add_client(app: Any, tenant: Tenant, name: str) -> str:
    """A client row written directly, so these tests do not lean on the clients API."""
    async with app.state.sessionmaker() as session:
        row = Client(business_id=uuid.UUID(tenant.business_id), name=name, email="c@example.com")
        session.add(row)
        await session.commit()
        return str(row.id)


async def test_template_round_trip(client: httpx.AsyncClient, owner: Tenant) -> None:
    created = await create(
        client, owner, name="  VAT due ", subject="VAT for {{ client.name }}", channel="email"
    )
    url = f"{URL}/{created['id']}"

    fetched = await client.get(url, headers=owner.headers)
    patched = await client.patch(
        url, headers=owner.headers, json={"channel": None, "subject": None}
    )
    deleted = await client.delete(url, headers=owner.headers)

    assert created["name"] == "VAT due"
    assert created["channel"] == "email"
    assert fetched.json() == created
    assert patched.status_code == 200, patched.text
    assert patched.json()["channel"] is None
    assert patched.json()["subject"] is None
    assert patched.json()["body"] == "Hi {{ client.name }}"
    assert deleted.status_code == 204
    assert (await client.get(url, headers=owner.headers)).status_code == 404


async def test_list_searches_by_name(client: httpx.AsyncClient, owner: Tenant) -> None:
    for name in ("VAT reminder", "Payroll", "vat final notice", "100% done"):
        await create(client, owner, name=name)

    vat = await client.get(URL, headers=owner.headers, params={"search": "VAT"})
    percent = await client.get(URL, headers=owner.headers, params={"search": "%"})
    everything = await client.get(URL, headers=owner.headers, params={"limit": 1})

    assert vat.status_code == 200
    assert sorted(t["name"] for t in vat.json()["items"]) == ["VAT reminder", "vat final notice"]
    assert [t["name"] for t in percent.json()["items"]] == ["100% done"]
    assert everything.json()["total"] == 4
    assert len(everything.json()["items"]) == 1


async def test_syntax_error_on_create_is_422_with_line_and_stores_nothing(
    client: httpx.AsyncClient, owner: Tenant, app: Any
) -> None:
    response = await client.post(
        URL,
        headers=owner.headers,
        json={"name": "Broken", "body": "Hi\nthere\n{{ client.name } }}"},
    )

    assert response.status_code == 422
    assert response.json() == {
        "detail": "body: unexpected '}' (line 3)",
        "line": 3,
        "field": "body",
    }
    assert await count_rows(app, "templates") == 0


async def test_syntax_error_in_subject_names_the_subject(
    client: httpx.AsyncClient, owner: Tenant
) -> None:
    response = await client.post(
        URL, headers=owner.headers, json={"name": "T", "subject": "{% if x %}", "body": "ok"}
    )

    assert response.status_code == 422
    assert response.json()["field"] == "subject"
    assert response.json()["detail"].startswith("subject: ")


async def test_syntax_error_on_patch_is_422_and_keeps_the_old_body(
    client: httpx.AsyncClient, owner: Tenant
) -> None:
    created = await create(client, owner, name="Keep")
    url = f"{URL}/{created['id']}"

    response = await client.patch(url, headers=owner.headers, json={"body": "ok\n{{ oops"})

    assert response.status_code == 422
    assert response.json()["line"] == 2
    assert (await client.get(url, headers=owner.headers)).json() == created


async def test_duplicate_template_name_is_409(
    client: httpx.AsyncClient, owner: Tenant, other_owner: Tenant, app: Any
) -> None:
    await create(client, owner, name="Welcome")
    second = await create(client, owner, name="Second")

    duplicate = await client.post(URL, headers=owner.headers, json={"name": "Welcome", "body": "x"})
    rename = await client.patch(
        f"{URL}/{second['id']}", headers=owner.headers, json={"name": "Welcome"}
    )
    elsewhere = await client.post(
        URL, headers=other_owner.headers, json={"name": "Welcome", "body": "x"}
    )

    assert duplicate.status_code == 409
    assert "already exists" in duplicate.json()["detail"]
    assert rename.status_code == 409
    assert elsewhere.status_code == 201
    assert await count_rows(app, "templates") == 3


@pytest.mark.parametrize(
    "body",
    [
        {"name": "", "body": "x"},
        {"name": "x", "body": "   "},
        {"name": "x"},
        {"name": "x", "body": "x", "channel": "fax"},
        {"name": "x", "body": "x", "business_id": str(uuid.uuid4())},
        {"name": "x", "body": "x" * 50_001},
    ],
)
async def test_invalid_template_is_422_and_stores_nothing(
    client: httpx.AsyncClient, owner: Tenant, app: Any, body: dict[str, Any]
) -> None:
    response = await client.post(URL, headers=owner.headers, json=body)

    assert response.status_code == 422, response.text
    assert await count_rows(app, "templates") == 0


async def test_null_name_or_body_on_patch_is_422(client: httpx.AsyncClient, owner: Tenant) -> None:
    created = await create(client, owner, name="Keep")
    url = f"{URL}/{created['id']}"

    no_name = await client.patch(url, headers=owner.headers, json={"name": None})
    no_body = await client.patch(url, headers=owner.headers, json={"body": None})

    assert (no_name.status_code, no_body.status_code) == (422, 422)
    assert (await client.get(url, headers=owner.headers)).json() == created


async def test_member_may_manage_templates(client: httpx.AsyncClient, member: Tenant) -> None:
    created = await create(client, member, name="By staff")

    patched = await client.patch(
        f"{URL}/{created['id']}", headers=member.headers, json={"name": "Renamed"}
    )
    deleted = await client.delete(f"{URL}/{created['id']}", headers=member.headers)

    assert patched.status_code == 200
    assert patched.json()["name"] == "Renamed"
    assert deleted.status_code == 204


async def test_another_business_template_is_404_and_unchanged(
    client: httpx.AsyncClient, owner: Tenant, other_owner: Tenant
) -> None:
    created = await create(client, owner, name="Private")
    url = f"{URL}/{created['id']}"

    fetched = await client.get(url, headers=other_owner.headers)
    patched = await client.patch(url, headers=other_owner.headers, json={"body": "stolen"})
    deleted = await client.delete(url, headers=other_owner.headers)
    previewed = await client.post(
        PREVIEW, headers=other_owner.headers, json={"template_id": created["id"]}
    )
    listed = await client.get(URL, headers=other_owner.headers)

    statuses = (fetched.status_code, patched.status_code, deleted.status_code)
    assert statuses == (404, 404, 404)
    assert previewed.status_code == 404
    assert fetched.json()["detail"] == "Template not found"
    assert listed.json()["total"] == 0
    assert (await client.get(url, headers=owner.headers)).json() == created


async def test_malformed_template_id_is_404(client: httpx.AsyncClient, owner: Tenant) -> None:
    fetched = await client.get(f"{URL}/not-a-uuid", headers=owner.headers)
    patched = await client.patch(f"{URL}/123", headers=owner.headers, json={"name": "x"})

    assert (fetched.status_code, patched.status_code) == (404, 404)


async def test_preview_renders_a_real_client_of_the_business(
    client: httpx.AsyncClient, owner: Tenant, app: Any
) -> None:
    client_id = await add_client(app, owner, "Bob Builder")
    template = await create(
        client, owner, name="Hello", subject="For {{ client.name }}", body="Dear {{ client.name }}"
    )

    response = await client.post(
        PREVIEW, headers=owner.headers, json={"template_id": template["id"], "client_id": client_id}
    )

    assert response.status_code == 200, response.text
    assert response.json() == {"subject": "For Bob Builder", "body": "Dear Bob Builder"}


async def test_a_client_value_that_is_not_there_prints_as_nothing_not_none(
    client: httpx.AsyncClient, owner: Tenant, app: Any
) -> None:
    client_id = await add_client(app, owner, "Bob Builder")  # an email, no phone, no address
    body = (
        "Phone: [{{ client.phone }}] Address: [{{ client.address }}] {{ client.phone or 'none' }}"
    )

    response = await client.post(
        PREVIEW, headers=owner.headers, json={"body": body, "client_id": client_id}
    )

    assert response.status_code == 200, response.text
    assert response.json()["body"] == "Phone: [] Address: [] none"


async def test_preview_uses_a_sample_client_business_and_reminder(
    client: httpx.AsyncClient, owner: Tenant
) -> None:
    body = "{{ client.name }}|{{ business.name }}|{{ reminder.title }}|{{ reminder.due_at | date }}"

    response = await client.post(PREVIEW, headers=owner.headers, json={"body": body})

    assert response.status_code == 200, response.text
    in_a_week = (datetime.now(UTC) + timedelta(days=7)).strftime("%d %B %Y")
    assert response.json() == {
        "subject": None,
        "body": f"Jane Example|Acme Accounting|Sample reminder|{in_a_week}",
    }


async def test_preview_variables_override_the_context(
    client: httpx.AsyncClient, owner: Tenant
) -> None:
    response = await client.post(
        PREVIEW,
        headers=owner.headers,
        json={
            "subject": "{{ invoice }}",
            "body": "{{ client.name }} owes {{ amount }}",
            "variables": {"client": {"name": "Override"}, "amount": "£10", "invoice": "INV-1"},
        },
    )

    assert response.status_code == 200, response.text
    assert response.json() == {"subject": "INV-1", "body": "Override owes £10"}


async def test_preview_of_another_business_client_is_404(
    client: httpx.AsyncClient, owner: Tenant, other_owner: Tenant, app: Any
) -> None:
    theirs = await add_client(app, other_owner, "Secret Client")

    response = await client.post(
        PREVIEW, headers=owner.headers, json={"body": "{{ client.name }}", "client_id": theirs}
    )

    assert response.status_code == 404
    assert "Secret" not in response.text


async def test_preview_of_undefined_variable_is_422_with_its_line(
    client: httpx.AsyncClient, owner: Tenant
) -> None:
    response = await client.post(
        PREVIEW,
        headers=owner.headers,
        json={"body": "Hello {{ client.name }}\n\nYour code: {{ client.code }}"},
    )

    assert response.status_code == 422
    payload = response.json()
    assert payload["line"] == 3
    assert payload["field"] == "body"
    assert payload["detail"].startswith("body: ")
    assert "code" in payload["detail"]
    assert payload["detail"].endswith("(line 3)")


async def test_preview_error_in_subject_names_the_subject(
    client: httpx.AsyncClient, owner: Tenant
) -> None:
    response = await client.post(
        PREVIEW, headers=owner.headers, json={"subject": "{{ nothing }}", "body": "fine"}
    )

    assert response.status_code == 422
    assert response.json()["field"] == "subject"
    assert response.json()["line"] == 1


@pytest.mark.parametrize(
    ("source", "says"),
    [
        ("{{ ''.__class__.__mro__[1].__subclasses__() }}", "unsafe"),
        ("{{ client.name.__class__ }}", "unsafe"),
        ("{% for i in range(100000) %}x{% endfor %}", "range"),
        # Each loop short, together a billion iterations: the loop budget stops them.
        (
            "{% for i in range(1000) %}{% for j in range(1000) %}{% for k in range(1000) %}"
            "{% endfor %}{% endfor %}{% endfor %}",
            "loop at most",
        ),
        (
            "{% set l = range(1000) | list %}{% for a in l %}{% for b in l %}x{% endfor %}{% endfor %}",
            "loop at most",
        ),
        ("{% macro f(n) %}{{ f(n) }}{% endmacro %}{{ f(1) }}", "nested"),
        ("{{ 2 ** 1000000000 }}", "exponent"),
        ("{{ ('a' * 1000) * 1000000 }}", "repetition"),
        ("{{ " + "(" * 3000 + "1" + ")" * 3000 + " }}", "nested"),
        ("{{ 1 / 0 }}", "division"),
    ],
)
async def test_preview_refuses_sandbox_escapes_and_runaway_templates(
    client: httpx.AsyncClient, owner: Tenant, source: str, says: str
) -> None:
    response = await client.post(PREVIEW, headers=owner.headers, json={"body": source})

    assert response.status_code == 422, response.text
    assert says in response.json()["detail"]
    assert response.json()["field"] == "body"


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"subject": "only a subject"},
        {"template_id": str(uuid.uuid4()), "body": "both"},
        {"body": "x", "variables": ["not", "an", "object"]},
    ],
)
async def test_preview_needs_exactly_one_source(
    client: httpx.AsyncClient, owner: Tenant, body: dict[str, Any]
) -> None:
    response = await client.post(PREVIEW, headers=owner.headers, json=body)

    assert response.status_code == 422


async def test_preview_of_missing_template_is_404(client: httpx.AsyncClient, owner: Tenant) -> None:
    response = await client.post(
        PREVIEW, headers=owner.headers, json={"template_id": str(uuid.uuid4())}
    )

    assert response.status_code == 404
