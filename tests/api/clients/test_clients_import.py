"""CSV import of clients: per-row results, matching, and files refused as a whole."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import text

from tests.builders.twilio import upload_clients_csv
from tests.conftest import Tenant, count_rows

CLIENTS = "/api/v1/clients"
IMPORT = "/api/v1/clients/import"


async def _clients(http: httpx.AsyncClient, tenant: Tenant) -> dict[str, dict[str, Any]]:
    response = await http.get(CLIENTS, headers=tenant.headers, params={"limit": 200})
    return {item["name"]: item for item in response.json()["items"]}


async def _create(http: httpx.AsyncClient, tenant: Tenant, **fields: Any) -> dict[str, Any]:
    response = await http.post(CLIENTS, headers=tenant.headers, json=fields)
    assert response.status_code == 201, response.text
    return response.json()


async def test_import_creates_valid_rows_and_rejects_bad_ones_with_reasons(
    client: httpx.AsyncClient, owner: Tenant
) -> None:
    csv_text = (
        "name,email,phone,timezone,tags,preferred_channels\n"
        "Ann,ANN@example.com,+44 7911 123456,Europe/London,VAT;Payroll,sms|email\n"
        "Bad Phone,,12345,,,\n"
        ",nobody@example.com,,,,\n"
        "Bad Zone,,,Mars/Olympus,,pigeon\n"
        "Bob,bob@example.com,,,,\n"
    )
    response = await upload_clients_csv(client, owner, csv_text)
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["created"], body["updated"], body["rejected"]) == (2, 0, 3)
    assert [(r["row"], r["status"]) for r in body["rows"]] == [
        (2, "created"),
        (3, "rejected"),
        (4, "rejected"),
        (5, "rejected"),
        (6, "created"),
    ]
    assert "client_id" not in body["rows"][1]
    assert "errors" not in body["rows"][0]
    assert body["rows"][1]["errors"][0].startswith("phone:")
    assert body["rows"][2]["errors"][0].startswith("name:")
    zone_errors = body["rows"][3]["errors"]
    assert any(e.startswith("timezone:") for e in zone_errors)
    assert any(e.startswith("preferred_channels") for e in zone_errors)

    stored = await _clients(client, owner)
    assert sorted(stored) == ["Ann", "Bob"]
    ann = stored["Ann"]
    assert ann["id"] == body["rows"][0]["client_id"]
    assert ann["email"] == "ann@example.com"
    assert ann["phone"] == "+447911123456"
    assert ann["tags"] == ["payroll", "vat"]
    assert ann["preferred_channels"] == ["sms", "email"]


async def test_import_updates_client_matched_by_external_ref_keeping_blank_cells(
    client: httpx.AsyncClient, owner: Tenant
) -> None:
    existing = await _create(
        client, owner, name="Old Name", phone="+447911123456", external_ref="CRM-9", tags=["a"]
    )
    response = await upload_clients_csv(
        client, owner, "external_ref,name,phone,tags\nCRM-9,New Name,,b\n"
    )
    assert response.status_code == 200, response.text
    assert response.json()["rows"] == [{"row": 2, "status": "updated", "client_id": existing["id"]}]

    after = (await client.get(f"{CLIENTS}/{existing['id']}", headers=owner.headers)).json()
    assert after["name"] == "New Name"
    assert after["phone"] == "+447911123456"
    assert after["tags"] == ["b"]


async def test_import_updates_client_matched_by_email_ignoring_case(
    client: httpx.AsyncClient, owner: Tenant, app: Any
) -> None:
    existing = await _create(client, owner, name="Ann", email="ann@example.com")
    response = await upload_clients_csv(
        client, owner, "name,email,timezone,external_ref\nAnn B,Ann@Example.com,Asia/Tokyo,R1\n"
    )
    row = response.json()["rows"][0]
    assert (row["status"], row["client_id"]) == ("updated", existing["id"])
    after = (await client.get(f"{CLIENTS}/{existing['id']}", headers=owner.headers)).json()
    assert (after["name"], after["timezone"], after["external_ref"]) == (
        "Ann B",
        "Asia/Tokyo",
        "R1",
    )
    assert await count_rows(app, "clients") == 1


async def test_email_of_a_client_with_another_external_ref_creates_a_new_client(
    client: httpx.AsyncClient, owner: Tenant
) -> None:
    await _create(client, owner, name="Ann", email="ann@example.com", external_ref="R1")
    response = await upload_clients_csv(
        client, owner, "name,email,external_ref\nAnn Two,ann@example.com,R2\n"
    )
    assert response.json()["rows"][0]["status"] == "created"
    assert sorted(await _clients(client, owner)) == ["Ann", "Ann Two"]


async def test_email_shared_by_two_clients_is_rejected_as_ambiguous(
    client: httpx.AsyncClient, owner: Tenant
) -> None:
    await _create(client, owner, name="Ann", email="shared@example.com")
    await _create(client, owner, name="Andy", email="shared@example.com")
    response = await upload_clients_csv(client, owner, "name,email\nWho,shared@example.com\n")
    row = response.json()["rows"][0]
    assert row["status"] == "rejected"
    assert "external_ref" in row["errors"][0]
    assert sorted(await _clients(client, owner)) == ["Andy", "Ann"]


async def test_second_row_with_same_external_ref_updates_the_first(
    client: httpx.AsyncClient, owner: Tenant, app: Any
) -> None:
    csv_text = "name,external_ref,tags\nFirst,R1,a\nSecond,R1,b\nThird,,\nThird,,\n"
    body = (await upload_clients_csv(client, owner, csv_text)).json()
    statuses = [(r["status"], r["client_id"]) for r in body["rows"]]
    assert statuses[0][0] == "created"
    assert statuses[1] == ("updated", statuses[0][1])
    # Without an external_ref or email there is nothing to match on.
    assert [s for s, _ in statuses[2:]] == ["created", "created"]
    stored = await _clients(client, owner)
    assert stored["Second"]["tags"] == ["b"]
    assert "First" not in stored
    assert await count_rows(app, "clients") == 3


async def test_header_is_case_insensitive_and_utf8_bom_is_accepted(
    client: httpx.AsyncClient, owner: Tenant
) -> None:
    content = "\ufeffName,EMAIL, Tags \r\nZoë Ærø,zoe@example.com,x|Y\r\n".encode()
    response = await upload_clients_csv(client, owner, content)
    assert response.status_code == 200, response.text
    zoe = (await _clients(client, owner))["Zoë Ærø"]
    assert zoe["email"] == "zoe@example.com"
    assert zoe["tags"] == ["x", "y"]


async def test_semicolon_separated_file_is_read(client: httpx.AsyncClient, owner: Tenant) -> None:
    response = await upload_clients_csv(client, owner, "name;email;tags\nAnn;ann@example.com;a|b\n")
    assert response.json()["created"] == 1
    assert (await _clients(client, owner))["Ann"]["tags"] == ["a", "b"]


async def test_row_numbers_are_file_lines(client: httpx.AsyncClient, owner: Tenant) -> None:
    csv_text = 'name,external_ref,phone\n\nAnn,,\nMulti,"A\nB",\nBad,,123\n'
    rows = (await upload_clients_csv(client, owner, csv_text)).json()["rows"]
    assert [(r["row"], r["status"]) for r in rows] == [
        (3, "created"),
        (4, "created"),
        (6, "rejected"),
    ]


async def test_row_with_more_cells_than_header_is_rejected(
    client: httpx.AsyncClient, owner: Tenant
) -> None:
    body = (
        await upload_clients_csv(client, owner, "name,email\nAnn,a@example.com,surplus\nBob\n")
    ).json()
    assert body["rows"][0]["status"] == "rejected"
    assert "cells" in body["rows"][0]["errors"][0]
    assert body["rows"][1]["status"] == "created"


async def test_import_leaves_other_businesses_alone(
    client: httpx.AsyncClient, owner: Tenant, other_owner: Tenant
) -> None:
    theirs = await _create(
        client, other_owner, name="Theirs", email="t@example.com", external_ref="R1"
    )
    body = (
        await upload_clients_csv(client, owner, "name,email,external_ref\nMine,t@example.com,R1\n")
    ).json()
    assert body["rows"][0]["status"] == "created"
    assert body["rows"][0]["client_id"] != theirs["id"]
    after = await client.get(f"{CLIENTS}/{theirs['id']}", headers=other_owner.headers)
    assert after.json() == {**theirs, "reminder_count": 0, "delivery_count": 0}


@pytest.mark.parametrize(
    ("content", "detail"),
    [
        (b"", "empty"),
        (b"\xef\xbb\xbf  \n\n", "empty"),
        ("name,email\nAnn,caf\xe9@example.com\n".encode("latin-1"), "UTF-8"),
        (b"PK\x03\x04\x14\x00\x00\x00\x08\x00", "CSV"),
        (b"name,email\x00\nAnn,a@b.c\n", "CSV"),
        (b"name,email\n", "no data rows"),
        (b"email,phone\nann@example.com,\n", "'name' column"),
        (b"name,mobile,Remarks\nAnn,1,2\n", "'mobile', 'remarks'"),
        (b"name,email,Name\nAnn,a@example.com,Ann\n", "more than once"),
        (b'name,email\n"Ann,a@example.com\n', "CSV"),
    ],
)
async def test_unusable_file_is_422_and_stores_nothing(
    client: httpx.AsyncClient, owner: Tenant, app: Any, content: bytes, detail: str
) -> None:
    response = await upload_clients_csv(client, owner, content)
    assert response.status_code == 422, response.text
    assert detail in response.json()["detail"]
    assert await count_rows(app, "clients") == 0


async def test_missing_file_field_is_422(client: httpx.AsyncClient, owner: Tenant) -> None:
    response = await client.post(IMPORT, headers=owner.headers, data={"other": "x"})
    assert response.status_code == 422
    assert "file" in response.json()["detail"]


async def test_too_many_rows_is_413_and_stores_nothing(
    client: httpx.AsyncClient, owner: Tenant, app: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(app.state.settings, "MAX_IMPORT_ROWS", 2)
    at_limit = await upload_clients_csv(client, owner, "name\nA\nB\n")
    assert at_limit.status_code == 200
    over = await upload_clients_csv(client, owner, "name\nC\nD\nE\n")
    assert over.status_code == 413
    assert "at most 2" in over.json()["detail"]
    assert sorted(await _clients(client, owner)) == ["A", "B"]


async def test_import_is_recorded_once_in_the_audit_log(
    client: httpx.AsyncClient, owner: Tenant, app: Any
) -> None:
    await upload_clients_csv(client, owner, "name,phone\nA,\nB,\nC,bad\n")
    async with app.state.engine.connect() as conn:
        rows = (
            await conn.execute(text("SELECT payload FROM app_events WHERE action LIKE 'client%'"))
        ).all()
    assert len(rows) == 1
    payload = rows[0][0]
    if isinstance(payload, str):  # SQLite hands JSON back as text through a raw query
        import json

        payload = json.loads(payload)
    assert payload == {"created": 2, "updated": 0, "rejected": 1, "rows": 3}
