"""The business's own client fields: owners define and delete them, staff read them,
clients hold values checked by type, and templates may use them."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.builders.twilio import upload_clients_csv
from tests.conftest import Tenant, count_rows

FIELDS = "/api/v1/business/client-fields"
CLIENTS = "/api/v1/clients"
TEMPLATES = "/api/v1/templates"


async def _define(
    http: httpx.AsyncClient, tenant: Tenant, name: str, kind: str = "text", label: str = ""
) -> dict[str, Any]:
    body = {"name": name, "label": label or name.replace("_", " ").title(), "type": kind}
    response = await http.post(FIELDS, headers=tenant.headers, json=body)
    assert response.status_code == 201, response.text
    return response.json()


async def _client(http: httpx.AsyncClient, tenant: Tenant, **body: Any) -> httpx.Response:
    return await http.post(CLIENTS, headers=tenant.headers, json={"name": "Ann", **body})


async def _standard_fields(http: httpx.AsyncClient, tenant: Tenant) -> None:
    await _define(http, tenant, "vat_number", label="VAT number")
    await _define(http, tenant, "employees", "number")
    await _define(http, tenant, "year_end", "date")
    await _define(http, tenant, "payroll", "boolean")


async def test_owner_defines_fields_and_members_read_them(
    client: httpx.AsyncClient, owner: Tenant, member: Tenant
) -> None:
    await _standard_fields(client, owner)
    listing = await client.get(FIELDS, headers=member.headers)
    assert listing.status_code == 200
    body = listing.json()
    assert body["total"] == 4
    assert [(f["name"], f["type"]) for f in body["items"]] == [
        ("vat_number", "text"),
        ("employees", "number"),
        ("year_end", "date"),
        ("payroll", "boolean"),
    ]
    assert body["items"][0]["label"] == "VAT number"

    refused = await client.post(
        FIELDS, headers=member.headers, json={"name": "x", "label": "X", "type": "text"}
    )
    assert refused.status_code == 403
    field_id = body["items"][0]["id"]
    assert (await client.delete(f"{FIELDS}/{field_id}", headers=member.headers)).status_code == 403


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ({"name": "VatNumber", "label": "VAT", "type": "text"}, "name"),
        ({"name": "2nd_phone", "label": "x", "type": "text"}, "name"),
        ({"name": "a" * 41, "label": "x", "type": "text"}, "name"),
        ({"name": "email", "label": "x", "type": "text"}, "reserved"),
        ({"name": "items", "label": "x", "type": "text"}, "reserved"),
        ({"name": "vat", "label": "x", "type": "colour"}, "type"),
        ({"name": "vat", "label": "", "type": "text"}, "label"),
    ],
)
async def test_bad_definitions_are_422_and_store_nothing(
    client: httpx.AsyncClient, owner: Tenant, app: Any, body: dict[str, Any], named: str
) -> None:
    response = await client.post(FIELDS, headers=owner.headers, json=body)
    assert response.status_code == 422, response.text
    assert named in response.text
    assert await count_rows(app, "client_fields") == 0


async def test_a_name_is_defined_once_and_a_business_has_at_most_50(
    client: httpx.AsyncClient, owner: Tenant
) -> None:
    await _define(client, owner, "vat_number")
    again = await client.post(
        FIELDS, headers=owner.headers, json={"name": "vat_number", "label": "x", "type": "date"}
    )
    assert again.status_code == 409
    for number in range(49):
        await _define(client, owner, f"field_{number}")
    over = await client.post(
        FIELDS, headers=owner.headers, json={"name": "one_more", "label": "x", "type": "text"}
    )
    assert over.status_code == 409
    assert "at most 50" in over.json()["detail"]


async def test_client_values_are_checked_by_type_and_come_back(
    client: httpx.AsyncClient, owner: Tenant
) -> None:
    await _standard_fields(client, owner)
    values = {"vat_number": "GB123", "employees": 12, "year_end": "2027-03-31", "payroll": True}
    created = await _client(client, owner, fields=values)
    assert created.status_code == 201, created.text
    assert created.json()["fields"] == values

    path = f"{CLIENTS}/{created.json()['id']}"
    patched = await client.patch(
        path, headers=owner.headers, json={"fields": {"employees": 14.5, "payroll": None}}
    )
    assert patched.status_code == 200, patched.text
    # Named values change, null clears one, the others stay.
    assert patched.json()["fields"] == {
        "vat_number": "GB123",
        "employees": 14.5,
        "year_end": "2027-03-31",
    }


@pytest.mark.parametrize(
    ("values", "problem"),
    [
        ({"nickname": "Al"}, "fields.nickname: no such field"),
        ({"employees": "12"}, "fields.employees: must be a number"),
        ({"employees": 10**16}, "fields.employees: must be between"),
        ({"year_end": "31/03/2027"}, "fields.year_end: '31/03/2027' is not a date"),
        ({"year_end": 20270331}, "fields.year_end: must be a date"),
        ({"payroll": "yes"}, "fields.payroll: must be true or false"),
        ({"vat_number": 123}, "fields.vat_number: must be text"),
        ({"vat_number": "x" * 501}, "fields"),
    ],
)
async def test_bad_values_are_422_and_change_nothing(
    client: httpx.AsyncClient, owner: Tenant, values: dict[str, Any], problem: str
) -> None:
    await _standard_fields(client, owner)
    created = (await _client(client, owner, fields={"vat_number": "GB1"})).json()
    path = f"{CLIENTS}/{created['id']}"
    for response in (
        await _client(client, owner, name="Other", fields=values),
        await client.patch(path, headers=owner.headers, json={"fields": values, "name": "Bo"}),
    ):
        assert response.status_code == 422, response.text
        assert problem in response.text
    after = (await client.get(path, headers=owner.headers)).json()
    assert (after["name"], after["fields"]) == ("Ann", {"vat_number": "GB1"})
    assert (await client.get(CLIENTS, headers=owner.headers)).json()["total"] == 1


async def test_another_business_fields_are_404_and_cannot_be_named(
    client: httpx.AsyncClient, owner: Tenant, other_owner: Tenant
) -> None:
    theirs = await _define(client, other_owner, "secret_code")
    gone = await client.delete(f"{FIELDS}/{theirs['id']}", headers=owner.headers)
    missing = await client.delete(
        f"{FIELDS}/{'0' * 8}-0000-0000-0000-{'0' * 12}", headers=owner.headers
    )
    assert gone.status_code == missing.status_code == 404
    assert gone.json() == missing.json()
    assert "secret_code" not in (await client.get(FIELDS, headers=owner.headers)).text

    named = await _client(client, owner, fields={"secret_code": "x"})
    assert named.status_code == 422
    assert "no such field" in named.text
    still = await client.get(FIELDS, headers=other_owner.headers)
    assert [f["name"] for f in still.json()["items"]] == ["secret_code"]


async def test_deleting_a_field_deletes_its_values(
    client: httpx.AsyncClient, owner: Tenant, other_owner: Tenant
) -> None:
    vat = await _define(client, owner, "vat_number")
    await _define(client, owner, "employees", "number")
    await _define(client, other_owner, "vat_number")
    mine = (await _client(client, owner, fields={"vat_number": "GB1", "employees": 3})).json()
    theirs = (await _client(client, other_owner, fields={"vat_number": "FR9"})).json()

    deleted = await client.delete(f"{FIELDS}/{vat['id']}", headers=owner.headers)
    assert deleted.status_code == 204
    got = (await client.get(f"{CLIENTS}/{mine['id']}", headers=owner.headers)).json()
    assert got["fields"] == {"employees": 3}
    other = (await client.get(f"{CLIENTS}/{theirs['id']}", headers=other_owner.headers)).json()
    assert other["fields"] == {"vat_number": "FR9"}
    # Made again, perhaps as another type, it starts empty.
    await _define(client, owner, "vat_number", "number")
    again = (await client.get(f"{CLIENTS}/{mine['id']}", headers=owner.headers)).json()
    assert again["fields"] == {"employees": 3}


async def test_templates_use_fields_and_refuse_unknown_ones(
    client: httpx.AsyncClient, owner: Tenant
) -> None:
    await _standard_fields(client, owner)
    body = "VAT {{ client.fields.vat_number }}, {{ client.fields.employees }} staff"
    saved = await client.post(TEMPLATES, headers=owner.headers, json={"name": "T", "body": body})
    assert saved.status_code == 201, saved.text
    typo = await client.post(
        TEMPLATES,
        headers=owner.headers,
        json={"name": "Typo", "body": "{{ client.fields.vat_nubmer }}"},
    )
    assert typo.status_code == 422
    assert "vat_nubmer" in typo.json()["detail"]

    ann = (await _client(client, owner, fields={"vat_number": "GB123"})).json()
    preview = await client.post(
        f"{TEMPLATES}/preview",
        headers=owner.headers,
        json={"body": body, "client_id": ann["id"]},
    )
    assert preview.status_code == 200, preview.text
    # A value the client does not have is empty, not an error.
    assert preview.json()["body"] == "VAT GB123,  staff"
    sample = await client.post(f"{TEMPLATES}/preview", headers=owner.headers, json={"body": body})
    assert sample.json()["body"] == "VAT Sample VAT number, 1250 staff"


async def test_new_client_columns_are_validated_and_stored(
    client: httpx.AsyncClient, owner: Tenant
) -> None:
    created = await _client(
        client,
        owner,
        secondary_phone="+44 7911 123457",
        address="1 High St\nLondon",
        notes="Prefers calls",
        is_active=False,
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["secondary_phone"] == "+447911123457"
    assert (body["address"], body["notes"], body["is_active"]) == (
        "1 High St\nLondon",
        "Prefers calls",
        False,
    )
    bad = await _client(client, owner, name="Bo", secondary_phone="07911 654321")
    assert bad.status_code == 422
    assert "secondary_phone" in bad.text
    path = f"{CLIENTS}/{body['id']}"
    for change in ({"is_active": None}, {"fields": None}, {"notes": "x" * 5001}):
        response = await client.patch(path, headers=owner.headers, json=change)
        assert response.status_code == 422, change
    await _client(client, owner, name="Bo")
    inactive = await client.get(CLIENTS, headers=owner.headers, params={"is_active": "false"})
    assert [c["name"] for c in inactive.json()["items"]] == ["Ann"]
    found = await client.get(CLIENTS, headers=owner.headers, params={"search": "7911 123457"})
    assert [c["name"] for c in found.json()["items"]] == ["Ann"]
    active = await client.patch(path, headers=owner.headers, json={"is_active": True})
    assert active.json()["is_active"] is True
    listed = await client.get(CLIENTS, headers=owner.headers, params={"is_active": "true"})
    assert [c["name"] for c in listed.json()["items"]] == ["Ann", "Bo"]


async def test_import_fills_fields_and_rejects_bad_values_with_reasons(
    client: httpx.AsyncClient, owner: Tenant
) -> None:
    await _standard_fields(client, owner)
    csv_text = (
        "name,email,field:vat_number,employees,Year_End,payroll,is_active\n"
        "Ann,ann@example.com,GB123,12,2027-03-31,yes,true\n"
        "Bob,bob@example.com,,lots,31/03/2027,maybe,\n"
        "Cat,cat@example.com,FR9,,,,false\n"
    )
    response = await upload_clients_csv(client, owner, csv_text)
    assert response.status_code == 200, response.text
    body = response.json()
    assert [r["status"] for r in body["rows"]] == ["created", "rejected", "created"]
    errors = body["rows"][1]["errors"]
    assert any(e.startswith("fields.employees: 'lots' is not a number") for e in errors)
    assert any(e.startswith("fields.year_end:") for e in errors)
    assert any(e.startswith("fields.payroll: must be true or false") for e in errors)

    listing = (await client.get(CLIENTS, headers=owner.headers)).json()["items"]
    stored = {c["name"]: c for c in listing}
    assert stored["Ann"]["fields"] == {
        "vat_number": "GB123",
        "employees": 12,
        "year_end": "2027-03-31",
        "payroll": True,
    }
    assert (stored["Cat"]["fields"], stored["Cat"]["is_active"]) == ({"vat_number": "FR9"}, False)

    # A later file updates the values it has cells for and keeps the others.
    update = "email,name,field:employees\nann@example.com,Ann,13\n"
    again = (await upload_clients_csv(client, owner, update)).json()
    assert again["rows"][0]["status"] == "updated"
    ann = (await client.get(f"{CLIENTS}/{stored['Ann']['id']}", headers=owner.headers)).json()
    assert ann["fields"]["employees"] == 13
    assert ann["fields"]["vat_number"] == "GB123"


async def test_import_refuses_a_column_that_is_no_field(
    client: httpx.AsyncClient, owner: Tenant, app: Any
) -> None:
    await _define(client, owner, "vat_number")
    response = await upload_clients_csv(client, owner, "name,field:nickname\nAnn,Al\n")
    assert response.status_code == 422
    assert "field:nickname" in response.json()["detail"]
    assert "vat_number" in response.json()["detail"]
    assert await count_rows(app, "clients") == 0
