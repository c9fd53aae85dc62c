"""Creating and updating clients from a CSV file, answering per row. Besides the client's
own columns, a column may hold one of the business's fields (/business/client-fields):
headed `field:<name>`, or just `<name>` (a field is never named like a client column)."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from api.client_fields.schemas import BUILT_IN_COLUMNS
from api.client_fields.values import check_values
from api.clients import optouts
from api.clients.schemas import ClientCreate, ImportResult, ImportRow
from api.clients.service import CHANNEL_FIELDS, apply_changes, new_client
from api.deps import Actor
from api.errors import PayloadTooLarge, Unprocessable
from core.models import Client
from core.repositories.client_fields import ClientFieldRepository
from core.repositories.clients import ClientRepository
from core.types import utcnow

# The client's own columns; a business's fields may not take their names.
IMPORT_COLUMNS = BUILT_IN_COLUMNS
_LIST_COLUMNS = ("tags", *CHANNEL_FIELDS)
FIELD_PREFIX = "field:"
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


def _column(cell: str, field_names: frozenset[str]) -> str | None:
    """The header cell as the column it is (a field's as `field:<name>`); None if unknown."""
    name = cell.strip().lower()
    if name in IMPORT_COLUMNS:
        return name
    if name.startswith(FIELD_PREFIX):
        name = name.removeprefix(FIELD_PREFIX).strip()
    return FIELD_PREFIX + name if name in field_names else None


def _check_header(cells: list[str], field_names: frozenset[str]) -> list[str]:
    header = [_column(cell, field_names) or cell.strip().lower() for cell in cells]
    unknown = [cell.strip().lower() for cell in cells if _column(cell, field_names) is None]
    if unknown:
        listed = ", ".join(repr(name) for name in unknown[:20])
        fields = ", ".join(sorted(field_names)) or "none yet"
        raise Unprocessable(
            f"Unknown columns: {listed}; allowed columns are {', '.join(IMPORT_COLUMNS)}, "
            f"and the business's client fields, by name or as field:<name> ({fields})"
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


def parse_csv(content: bytes, field_names: frozenset[str] = frozenset()) -> list[CsvRow]:
    """The file's data rows; a file that is not a CSV with a usable header is refused whole."""
    text = _decode(content)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(text), strict=True)
    try:
        records = _records(reader)
        first = next(records, None)
        if first is None:
            raise Unprocessable("The file is empty; expected a header row and data rows")
        header = _check_header(first[1], field_names)
        rows = [_row(number, cells, header) for number, cells in records]
    except csv.Error as exc:
        raise Unprocessable(f"Not a readable CSV file (line {reader.line_num}): {exc}") from None
    if not rows:
        raise Unprocessable("The file has a header row but no data rows")
    return rows


def _split(column: str, value: str) -> list[str]:
    items = [item.strip() for item in _LIST_SEPARATOR.split(value) if item.strip()]
    return [item.lower() for item in items] if column in CHANNEL_FIELDS else items


def _error_text(error: Any) -> str:
    where = ".".join(str(part) for part in error["loc"])
    return f"{where}: {str(error['msg']).removeprefix('Value error, ')}"


def _validate(row: CsvRow, types: Mapping[str, str]) -> None:
    if row.errors:
        return
    data: dict[str, Any] = {}
    cells: dict[str, str] = {}
    for column, value in row.cells.items():
        if column.startswith(FIELD_PREFIX):
            cells[column.removeprefix(FIELD_PREFIX)] = value
        else:
            data[column] = _split(column, value) if column in _LIST_COLUMNS else value
    values, row.errors = check_values(types, cells, from_text=True)
    if values:
        data["fields"] = values
    try:
        parsed = ClientCreate.model_validate(data)
    except ValidationError as exc:
        row.errors += [_error_text(error) for error in exc.errors()]
        return
    if not row.errors:
        row.data = parsed


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
            client = new_client(self.business_id, row.data)
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
        apply_changes(client, changes)
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
    types = await ClientFieldRepository(session).types(actor.business_id)
    rows = parse_csv(content, frozenset(types))
    if len(rows) > max_rows:
        raise PayloadTooLarge(
            f"The file has {len(rows)} data rows; at most {max_rows} per import, "
            "split it into smaller files"
        )
    for row in rows:
        _validate(row, types)
    importer = _Importer(session, actor)
    await importer.preload(rows)
    results = [importer.apply(row) for row in rows]
    await session.flush()
    counts = {status: sum(r.status == status for r in results) for status in _STATUSES}
    actor.record(session, "clients.imported", "client", None, **counts, rows=len(rows))
    await session.commit()
    return ImportResult(**counts, rows=results)
