"""A business's own client fields ("VAT number", "Year end"): their definitions. The values
live on each client (`Client.fields`, keyed by the field's name). On core.models' Base;
alembic/env.py imports this module so migrations know it."""

from __future__ import annotations

import uuid
from enum import StrEnum

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from core.models import Base, IdMixin, TimestampMixin

# A business defines at most this many fields: each is a column of the import file, a
# key on every client and a variable of every template.
MAX_FIELDS_PER_BUSINESS = 50


class FieldType(StrEnum):
    text = "text"
    number = "number"
    date = "date"  # stored as an ISO 8601 date, "2027-01-31"
    boolean = "boolean"


class ClientField(IdMixin, TimestampMixin, Base):
    """One field a business keeps on its clients. `name` is how values, templates
    (`{{ client.fields.<name> }}`) and import columns refer to it; `label` is for people."""

    __tablename__ = "client_fields"
    __table_args__ = (UniqueConstraint("business_id", "name"),)

    business_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("businesses.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(40))
    label: Mapped[str] = mapped_column(String(200))
    type: Mapped[str] = mapped_column(String(10))
