"""Templates cannot exhaust the API: every way to grow a value, the output or the running
time is refused (preview, and a trial render before anything is saved), the event loop
keeps serving while a render runs, and everyday templates render as they always did."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from core.models import Client
from tests.conftest import Tenant, count_rows
from tests.seed import Seeded, add_reminder
from tests.template_attacks import ATTACKS, DOUBLING_MACRO, TIME_BURNER, VALUE_LIMIT

TEMPLATES = "/api/v1/templates"
PREVIEW = f"{TEMPLATES}/preview"
REMINDERS = "/api/v1/reminders"


def in_a_day() -> dict[str, Any]:
    return {"kind": "once", "at": (datetime.now(UTC) + timedelta(days=1)).isoformat()}


async def add_client(app: Any, tenant: Tenant) -> uuid.UUID:
    async with app.state.sessionmaker() as session:
        row = Client(business_id=uuid.UUID(tenant.business_id), name="Bob", email="b@example.com")
        session.add(row)
        await session.commit()
        return row.id


def reminder(client_id: uuid.UUID, **fields: Any) -> dict[str, Any]:
    return {
        "title": "VAT return",
        "type": "deadline",
        "client_ids": [str(client_id)],
        "channels": ["email"],
        "schedule": in_a_day(),
        **fields,
    }


def assert_refused(response: httpx.Response, says: str, field: str = "body") -> None:
    assert response.status_code == 422, response.text
    assert says in response.json()["detail"]
    assert response.json()["field"] == field
    assert "line" in response.json()


@pytest.mark.parametrize(("source", "says"), ATTACKS.values(), ids=ATTACKS.keys())
async def test_a_template_that_would_exhaust_the_server_is_refused_and_nothing_is_stored(
    client: httpx.AsyncClient, owner: Tenant, app: Any, source: str, says: str
) -> None:
    client_id = await add_client(app, owner)

    previewed = await client.post(PREVIEW, headers=owner.headers, json={"body": source})
    saved = await client.post(
        TEMPLATES, headers=owner.headers, json={"name": "Attack", "body": source}
    )
    scheduled = await client.post(
        REMINDERS, headers=owner.headers, json=reminder(client_id, body=source)
    )

    for response in (previewed, saved, scheduled):
        assert_refused(response, says)
    assert await count_rows(app, "templates") == 0
    assert await count_rows(app, "reminders") == 0


async def test_such_a_subject_or_whatsapp_variable_is_refused_by_its_name(
    client: httpx.AsyncClient, owner: Tenant, app: Any
) -> None:
    client_id = await add_client(app, owner)
    variables = {"1": "{{ client.name }}", "2": DOUBLING_MACRO}

    subject = await client.post(
        TEMPLATES,
        headers=owner.headers,
        json={"name": "Attack", "subject": DOUBLING_MACRO, "body": "Hello"},
    )
    variable = await client.post(
        REMINDERS,
        headers=owner.headers,
        json=reminder(client_id, body="Hello", whatsapp_content_variables=variables),
    )

    assert_refused(subject, VALUE_LIMIT, field="subject")
    assert_refused(variable, VALUE_LIMIT, field="whatsapp_content_variables.2")
    assert await count_rows(app, "templates") == 0
    assert await count_rows(app, "reminders") == 0


async def test_changing_a_text_into_such_a_template_is_refused_and_keeps_the_old_one(
    client: httpx.AsyncClient, owner: Tenant, app: Any
) -> None:
    created = await client.post(
        TEMPLATES, headers=owner.headers, json={"name": "Kept", "body": "Hi {{ client.name }}"}
    )
    seed = Seeded(
        app.state.sessionmaker, uuid.UUID(owner.business_id), await add_client(app, owner)
    )
    row = await add_reminder(seed, in_a_day(), body="Hi {{ client.name }}")
    template_url = f"{TEMPLATES}/{created.json()['id']}"
    reminder_url = f"{REMINDERS}/{row.id}"
    before = (await client.get(reminder_url, headers=owner.headers)).json()

    template = await client.patch(template_url, headers=owner.headers, json={"body": TIME_BURNER})
    changed = await client.patch(reminder_url, headers=owner.headers, json={"body": DOUBLING_MACRO})

    assert_refused(template, "seconds")
    assert_refused(changed, VALUE_LIMIT)
    assert (await client.get(template_url, headers=owner.headers)).json() == created.json()
    assert (await client.get(reminder_url, headers=owner.headers)).json() == before


async def test_a_render_that_spends_its_whole_time_budget_does_not_hold_up_other_requests(
    client: httpx.AsyncClient, owner: Tenant
) -> None:
    finished: list[str] = []

    async def request(name: str, sent: Any) -> httpx.Response:
        response: httpx.Response = await sent
        finished.append(name)
        return response

    preview = asyncio.create_task(
        request("preview", client.post(PREVIEW, headers=owner.headers, json={"body": TIME_BURNER}))
    )
    await asyncio.sleep(0.05)  # lets the preview reach its render before the next request
    health = await request("healthz", client.get("/healthz"))
    rendered = await preview

    assert finished == ["healthz", "preview"]
    assert health.status_code == 200
    assert_refused(rendered, "seconds")


async def test_one_business_slow_texts_neither_queue_without_end_nor_delay_another(
    client: httpx.AsyncClient, owner: Tenant, other_owner: Tenant
) -> None:
    """A business's renders take turns on one render thread, at most a few waiting: a
    flood of slow previews gets 429 past that, and another business's preview goes ahead
    of the flood instead of waiting for it."""
    finished: list[str] = []

    async def request(name: str, tenant: Tenant, body: str) -> httpx.Response:
        response = await client.post(PREVIEW, headers=tenant.headers, json={"body": body})
        finished.append(name)
        return response

    flood = [asyncio.create_task(request(f"flood-{n}", owner, TIME_BURNER)) for n in range(8)]
    await asyncio.sleep(0.05)  # the flood reaches its renders first
    other = await request("other", other_owner, "Hi {{ client.name }}")
    answers = await asyncio.gather(*flood)

    assert other.status_code == 200, other.text
    refused = [r for r in answers if r.status_code == 429]
    assert refused, [r.status_code for r in answers]
    assert all(r.headers["Retry-After"] for r in refused)
    slow = {f"flood-{n}" for n, answer in enumerate(answers) if answer.status_code == 422}
    assert 1 <= len(slow) <= 1 + 4  # one running, four waiting
    assert all(finished.index("other") < finished.index(name) for name in slow)


# What these rendered to before the sandbox bounded renders, character for character.
EVERYDAY = [
    (
        "Dear {{ client.name | title }},\nyour {{ reminder.title }} is due on "
        "{{ reminder.due_at | date }}.",
        "Dear Jane Example,\nyour VAT return for Q1 2025 is due on 31 March 2025.",
    ),
    (
        "{{ reminder.due_at | datetime('%d/%m/%Y %H:%M') }} {{ reminder.occurrence_at | date }}",
        "31/03/2025 09:00 ",
    ),
    (
        "{% for doc in client.tags %}- {{ doc | upper }}\n{% endfor %}",
        "- PASSPORT\n- P60\n- BANK STATEMENT\n",
    ),
    (
        "{{ client.tags | join(', ') }} / {{ [] | join(', ') | default('none', true) }}",
        "passport, P60, bank statement / none",
    ),
    (
        "{% set amount = 150.5 %}"
        "{% if amount > 100 %}Large{% elif amount > 10 %}Medium{% else %}Small{% endif %}: "
        "{{ '%.2f' % amount }} {{ '%s-%s' % ('a', 1) }}",
        "Large: 150.50 a-1",
    ),
    (
        "{% macro line(label, value) %}{{ label }}: {{ value }}{% endmacro %}"
        "{{ line('Name', client.name) }}\n{{ line('Due', reminder.due_at | date('%d %b')) }}",
        "Name: jane example\nDue: 31 Mar",
    ),
    (
        "{{ client.name ~ '!' }} {{ client.missing | default('n/a') }} "
        "{{ client.name | capitalize }} {{ client.name | length }}",
        "jane example! n/a Jane example 12",
    ),
    (
        "{% for d in client.tags %}{{ loop.index }}. {{ d }}"
        "{% if not loop.last %}; {% endif %}{% endfor %}",
        "1. passport; 2. P60; 3. bank statement",
    ),
    (
        "{{ client.tags | length }} {{ client.tags | first }} {{ client.tags | last }} "
        "{{ client.tags | sort | join('/') }} {{ client.tags | map('upper') | list }}",
        "3 passport bank statement bank statement/P60/passport "
        "['PASSPORT', 'P60', 'BANK STATEMENT']",
    ),
    (
        "{{ client.name[:4] }} {{ client.name.split(' ') | last }} "
        "{{ (150.5 * 1.2) | round(2) }} {{ 150.5 | int }} {{ client.external_ref[3:] }}",
        "jane example 180.6 150 7",
    ),
    (
        "{% set amounts = [3, 1, 2] %}{{ amounts | sum }} {{ amounts | max }} "
        "{{ amounts | min }} {{ [1, 2] + [3] }} {{ amounts | sort(reverse=true) }}",
        "6 3 1 [1, 2, 3] [3, 2, 1]",
    ),
    (
        "{{ reminder.title | truncate(12) }}|{{ 'one two three four' | wordwrap(7) }}|"
        "{{ 'a-b-c' | replace('-', '+') }}|{{ '  x  ' | trim }}",
        "VAT...|one two\nthree\nfour|a+b+c|x",
    ),
    (
        "{% set greeting %}Hello {{ client.name }}{% endset %}{{ greeting | upper }} "
        "{% filter lower %}SHOUT{% endfilter %}",
        "HELLO JANE EXAMPLE shout",
    ),
    (
        "{% for tag in client.tags if tag != 'P60' %}{{ tag }},{% else %}none{% endfor %} "
        "{{ client.tags is defined }} {{ 1.5 is number }}",
        "passport,bank statement, True True",
    ),
    (
        "{{ {'a': 1, 'b': 2} | dictsort }} {{ (1, 2) }} {{ 'x' * 3 }} {{ 2 ** 8 }} "
        "{{ 7 // 2 }} {{ 7 % 3 }} {{ 10 / 4 }}",
        "[('a', 1), ('b', 2)] (1, 2) xxx 256 3 1 2.5",
    ),
    (
        "{% for key, value in {'x': 1}.items() %}{{ key }}={{ value }}{% endfor %} "
        "{{ client.get('name') }} {{ range(3) | list }}",
        "x=1 jane example [0, 1, 2]",
    ),
]
VARIABLES = {
    "client": {
        "name": "jane example",
        "tags": ["passport", "P60", "bank statement"],
        "external_ref": "CL-7",
    },
    "reminder": {
        "title": "VAT return for Q1 2025",
        "due_at": "2025-03-31T09:00:00+00:00",
        "occurrence_at": None,
    },
}


@pytest.mark.parametrize(("source", "expected"), EVERYDAY)
async def test_everyday_templates_render_as_before_and_save(
    client: httpx.AsyncClient, owner: Tenant, source: str, expected: str
) -> None:
    previewed = await client.post(
        PREVIEW, headers=owner.headers, json={"body": source, "variables": VARIABLES}
    )
    saved = await client.post(TEMPLATES, headers=owner.headers, json={"name": "T", "body": source})

    assert previewed.status_code == 200, previewed.text
    assert previewed.json()["body"] == expected
    assert saved.status_code == 201, saved.text


async def test_a_recurring_reminder_saves_a_body_that_prints_its_missing_due_date(
    live_app: Any, client: httpx.AsyncClient, owner: Tenant
) -> None:
    recurring = {"kind": "recurring", "rrule": "FREQ=MONTHLY", "start": in_a_day()["at"]}
    body = "Hi {{ client.name }}, due {{ reminder.due_at | date }}"

    response = await client.post(
        REMINDERS,
        headers=owner.headers,
        json=reminder(await add_client(live_app, owner), body=body, schedule=recurring),
    )

    assert response.status_code == 201, response.text
