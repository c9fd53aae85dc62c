"""Clients: create, change, delete, and import from a CSV file. Each write commits once, at
its end: the request's one transaction."""

from __future__ import annotations

import csv
import io
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from api.clients import optouts
from api.clients.schemas import ClientCreate, ClientUpdate, ImportResult, ImportRow
from api.deps import Actor
from api.errors import Conflict, NotFound, PayloadTooLarge, Unprocessable
from core.models import Client
from core.repositories.clients import ClientRepository, set_tags
from core.types import utcnow

_NOT_NULL = ("name", "tags", "preferred_channels", "opted_out_channels")
_CHANNEL_FIELDS = ("preferred_channels", "opted_out_channels")


def _ref_conflict(external_ref: str) -> Conflict:
    return Conflict(f"Another client of this business already has external_ref {external_ref!r}")


def _apply(client: Client, changes: dict[str, Any]) -> None:
    for key, value in changes.items():
        if key == "tags":
            set_tags(client, value)
        elif key in _CHANNEL_FIELDS:
            setattr(client, key, [str(channel) for channel in value])
        else:
            setattr(client, key, value)


def _new_client(business_id: uuid.UUID, data: ClientCreate) -> Client:
    # The id is set here, not at flush, so an import can report it before flushing.
    client = Client(id=uuid.uuid4(), business_id=business_id, tag_rows=[])
    _apply(client, data.model_dump())
    return client


def _record(
    session: AsyncSession, actor: Actor, action: str, client: Client, **payload: Any
) -> None:
    actor.record(session, action, "client", client.id, **payload)


async def get_client(session: AsyncSession, actor: Actor, client_id: uuid.UUID) -> Client:
    client = await ClientRepository(session).get(actor.business_id, client_id)
    if client is None:
        raise NotFound("Client not found")
    return client


async def list_clients(
    session: AsyncSession,
    actor: Actor,
    *,
    search: str | None,
    tag: str | None,
    limit: int,
    offset: int,
) -> tuple[list[Client], int]:
    return await ClientRepository(session).list_page(
        actor.business_id,
        # An empty box in a search form means "no filter", not "match the empty tag".
        search=(search or "").strip() or None,
        tag=(tag or "").strip().lower() or None,
        limit=limit,
        offset=offset,
    )


async def create_client(session: AsyncSession, actor: Actor, data: ClientCreate) -> Client:
    clients = ClientRepository(session)
    if data.external_ref and await clients.external_ref_taken(actor.business_id, data.external_ref):
        raise _ref_conflict(data.external_ref)
    client = _new_client(actor.business_id, data)
    optouts.record_changes(session, actor, client, before=[])
    pairs = optouts.pairs_of([client])
    optouts.enforce(client, await optouts.suppressed_pairs(session, actor, pairs))
    client = await clients.add(client)
    _record(session, actor, "client.created", client, name=client.name)
    await session.commit()
    return client


async def update_client(
    session: AsyncSession, actor: Actor, client: Client, data: ClientUpdate
) -> Client:
    changes = data.model_dump(exclude_unset=True)
    for required in _NOT_NULL:
        if required in changes and changes[required] is None:
            raise Unprocessable(f"{required} cannot be null")
    ref = changes.get("external_ref")
    if ref is not None and ref != client.external_ref:
        taken = await ClientRepository(session).external_ref_taken(
            actor.business_id, ref, exclude_id=client.id
        )
        if taken:
            raise _ref_conflict(ref)
    before = list(client.opted_out_channels or [])
    _apply(client, changes)
    suppressed = await optouts.suppressed_pairs(session, actor, optouts.pairs_of([client]))
    problem = optouts.lifted_by_staff(client, before, suppressed)
    if problem:
        raise Unprocessable(problem)  # the request fails: nothing applied is committed
    optouts.record_changes(session, actor, client, before)
    optouts.enforce(client, suppressed)
    if changes:
        # A change to tags alone touches no column of `clients`, so onupdate would not fire.
        client.updated_at = utcnow()
    await session.flush()
    _record(session, actor, "client.updated", client, fields=sorted(changes))
    await session.commit()
    return client


async def delete_client(session: AsyncSession, actor: Actor, client: Client) -> None:
    _record(session, actor, "client.deleted", client, name=client.name)
    await ClientRepository(session).delete(client)
    await session.commit()


# --- CSV import -------------------------------------------------------------------------

IMPORT_COLUMNS = (
    "name",
    "email",
    "phone",
    "whatsapp",
    "timezone",
    "tags",
    "preferred_channels",
    "opted_out_channels",
    "external_ref",
)
_LIST_COLUMNS = ("tags", *_CHANNEL_FIELDS)
_LIST_SEPARATOR = re.compile(r"[;|]")
_STATUSES = ("created", "updated", "rejected")


@dataclass
class CsvRow:
    number: int
    cells: dict[str, str]
    errors: list[str] = field(default_factory=list)
    data: ClientCreate | None = None


def _decode(content: bytes) -> str:
    try:
        text = content.decode("utf-8-sig")  # Excel's "CSV UTF-8" starts with a BOM
    except UnicodeDecodeError as exc:
        raise Unprocessable(
            f"The file is not UTF-8 text (bad byte at offset {exc.start}); "
            "save it as CSV UTF-8 and upload again"
        ) from None
    if not text.strip():
        raise Unprocessable("The file is empty; expected a header row and data rows")
    if "\x00" in text:
        raise Unprocessable("The file is binary, not CSV text; save it as CSV UTF-8")
    return text


def _delimiter(text: str) -> str:
    # Spreadsheets in many locales save CSV with semicolons; the header tells which.
    first_line = text.lstrip().split("\n", 1)[0]
    return ";" if ";" in first_line and "," not in first_line else ","


def _check_header(cells: list[str]) -> list[str]:
    header = [cell.strip().lower() for cell in cells]
    unknown = [name for name in header if name not in IMPORT_COLUMNS]
    if unknown:
        listed = ", ".join(repr(name) for name in unknown[:20])
        raise Unprocessable(
            f"Unknown columns: {listed}; allowed columns are {', '.join(IMPORT_COLUMNS)}"
        )
    repeated = sorted({name for name in header if header.count(name) > 1})
    if repeated:
        raise Unprocessable(f"Columns appear more than once: {', '.join(repeated)}")
    if "name" not in header:
        raise Unprocessable("The header row has no 'name' column, which is required")
    return header


def _records(reader: Any) -> Iterator[tuple[int, list[str]]]:
    """Non-blank records with the file line each starts on (a quoted cell may span lines)."""
    start = reader.line_num + 1
    for cells in reader:
        number, start = start, reader.line_num + 1
        if any(cell.strip() for cell in cells):
            yield number, cells


def _row(number: int, cells: list[str], header: list[str]) -> CsvRow:
    if any(cell.strip() for cell in cells[len(header) :]):
        problem = f"has {len(cells)} cells but the header has {len(header)} columns"
        return CsvRow(number, {}, errors=[problem])
    values = {col: cell.strip() for col, cell in zip(header, cells, strict=False) if cell.strip()}
    return CsvRow(number, values)


def parse_csv(content: bytes) -> list[CsvRow]:
    """The file's data rows; a file that is not a CSV with a usable header is refused whole."""
    text = _decode(content)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(text), strict=True)
    try:
        records = _records(reader)
        first = next(records, None)
        if first is None:
            raise Unprocessable("The file is empty; expected a header row and data rows")
        header = _check_header(first[1])
        rows = [_row(number, cells, header) for number, cells in records]
    except csv.Error as exc:
        raise Unprocessable(f"Not a readable CSV file (line {reader.line_num}): {exc}") from None
    if not rows:
        raise Unprocessable("The file has a header row but no data rows")
    return rows


def _split(column: str, value: str) -> list[str]:
    items = [item.strip() for item in _LIST_SEPARATOR.split(value) if item.strip()]
    return [item.lower() for item in items] if column in _CHANNEL_FIELDS else items


def _validate(row: CsvRow) -> None:
    if row.errors:
        return
    data = {
        column: _split(column, value) if column in _LIST_COLUMNS else value
        for column, value in row.cells.items()
    }
    try:
        row.data = ClientCreate.model_validate(data)
    except ValidationError as exc:
        row.errors = [
            f"{'.'.join(str(part) for part in error['loc'])}: "
            f"{str(error['msg']).removeprefix('Value error, ')}"
            for error in exc.errors()
        ]


class _Importer:
    """Matches rows to clients: first by external_ref, then by email, else a new client.

    Matches are looked up once for the whole file and kept in memory, so a later row in
    the same file updates the client an earlier row created instead of duplicating it.
    """

    def __init__(self, session: AsyncSession, actor: Actor) -> None:
        self.session = session
        self.actor = actor
        self.business_id = actor.business_id
        self.by_ref: dict[str, Client] = {}
        self.by_email: dict[str, list[Client]] = {}
        self.suppressed: set[optouts.Pair] = set()

    def _index(self, client: Client, old_email: str | None = None) -> None:
        if old_email is not None and old_email != client.email:
            self.by_email[old_email].remove(client)
        if client.external_ref:
            self.by_ref[client.external_ref] = client
        if client.email:
            same_email = self.by_email.setdefault(client.email, [])
            if client not in same_email:
                same_email.append(client)

    async def preload(self, rows: list[CsvRow]) -> None:
        valid = [row.data for row in rows if row.data is not None]
        refs = {data.external_ref for data in valid if data.external_ref}
        emails = {data.email for data in valid if data.email}
        repo = ClientRepository(self.session)
        for client in await repo.find_by_external_refs(self.business_id, refs):
            self._index(client)
        for client in await repo.find_by_emails(self.business_id, emails):
            self._index(client)
        known = {*self.by_ref.values(), *(c for same in self.by_email.values() for c in same)}
        incoming = [
            Client(**data.model_dump(include={"email", "phone", "whatsapp"})) for data in valid
        ]
        pairs = optouts.pairs_of([*known, *incoming])
        self.suppressed = await optouts.suppressed_pairs(self.session, self.actor, pairs)

    def _match(self, data: ClientCreate) -> Client | None:
        if data.external_ref and data.external_ref in self.by_ref:
            return self.by_ref[data.external_ref]
        if not data.email:
            return None
        # A client already known by another external_ref is a different record.
        candidates = [
            client
            for client in self.by_email.get(data.email, [])
            if data.external_ref is None or client.external_ref is None
        ]
        if len(candidates) > 1:
            raise ValueError(
                f"email: {len(candidates)} clients have {data.email}; "
                "add an external_ref column to say which one to update"
            )
        return candidates[0] if candidates else None

    def apply(self, row: CsvRow) -> ImportRow:
        if row.data is None:
            return ImportRow(row=row.number, status="rejected", errors=row.errors)
        try:
            client = self._match(row.data)
        except ValueError as exc:
            return ImportRow(row=row.number, status="rejected", errors=[str(exc)])
        if client is None:
            client = _new_client(self.business_id, row.data)
            optouts.record_changes(self.session, self.actor, client, before=[])
            optouts.enforce(client, self.suppressed)
            self.session.add(client)
            self._index(client)
            return ImportRow(row=row.number, status="created", client_id=client.id)
        # Only the cells filled in change an existing client; blank cells keep its values.
        changes = row.data.model_dump(include=row.data.model_fields_set)
        problem = self._lifts_a_client_opt_out(client, changes)
        if problem:
            return ImportRow(row=row.number, status="rejected", errors=[problem])
        old_email, before = client.email, list(client.opted_out_channels or [])
        _apply(client, changes)
        optouts.record_changes(self.session, self.actor, client, before)
        optouts.enforce(client, self.suppressed)
        client.updated_at = utcnow()
        self._index(client, old_email)
        return ImportRow(row=row.number, status="updated", client_id=client.id)

    def _lifts_a_client_opt_out(self, client: Client, changes: dict[str, Any]) -> str | None:
        """The row, applied, would lift an opt-out the client made: checked on a copy, so
        a rejected row changes nothing."""
        fields = ("email", "phone", "whatsapp", "opted_out_channels")
        after = Client(**{name: changes.get(name, getattr(client, name)) for name in fields})
        after.opted_out_channels = [str(c) for c in after.opted_out_channels or []]
        return optouts.lifted_by_staff(
            after, list(client.opted_out_channels or []), self.suppressed
        )


async def import_clients(
    session: AsyncSession, actor: Actor, content: bytes, *, max_rows: int
) -> ImportResult:
    rows = parse_csv(content)
    if len(rows) > max_rows:
        raise PayloadTooLarge(
            f"The file has {len(rows)} data rows; at most {max_rows} per import, "
            "split it into smaller files"
        )
    for row in rows:
        _validate(row)
    importer = _Importer(session, actor)
    await importer.preload(rows)
    results = [importer.apply(row) for row in rows]
    await session.flush()
    counts = {status: sum(r.status == status for r in results) for status in _STATUSES}
    actor.record(session, "clients.imported", "client", None, **counts, rows=len(rows))
    await session.commit()
    return ImportResult(**counts, rows=results)
