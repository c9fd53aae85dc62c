from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, Field, StringConstraints

from api.schemas import InputModel, ReadModel
from api.validation import Name
from core.client_field_models import FieldType

# A client's own columns, as the CSV import (api/clients/importer.py) takes them: a field
# may not be called like one, so a column of the file is never both.
BUILT_IN_COLUMNS = (
    "name",
    "email",
    "phone",
    "secondary_phone",
    "whatsapp",
    "timezone",
    "address",
    "notes",
    "is_active",
    "tags",
    "preferred_channels",
    "opted_out_channels",
    "external_ref",
)
# In a template `client.fields.items` is the dict's method, not a field called "items".
_DICT_ATTRIBUTES = frozenset(name for name in dir(dict) if not name.startswith("_"))
FIELD_NAME_PATTERN = r"^[a-z][a-z0-9_]*$"


def _not_reserved(name: str) -> str:
    if name in _DICT_ATTRIBUTES or name in BUILT_IN_COLUMNS:
        raise ValueError(f"{name!r} is reserved; choose another name")
    return name


FieldName = Annotated[
    str,
    StringConstraints(min_length=1, max_length=40, pattern=FIELD_NAME_PATTERN),
    AfterValidator(_not_reserved),
]


class ClientFieldCreate(InputModel):
    name: FieldName = Field(
        description="How values, templates ({{ client.fields.<name> }}) and import columns "
        "name it: lower_snake_case, up to 40 characters."
    )
    label: Name
    type: FieldType


class ClientFieldRead(ReadModel):
    id: uuid.UUID
    name: str
    label: str
    type: FieldType
    created_at: datetime
