"""indexes for reads at a large firm's size: the client list's order, and (PostgreSQL)
trigram indexes for client search and the deliveries' time index covering status and
channel (the dashboard's per-day counts without reading the table)

Revision ID: 6dc7e8f9a0b1
Revises: 5cb6d7e8f9a0
Create Date: 2026-12-05 09:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "6dc7e8f9a0b1"
down_revision: str | None = "5cb6d7e8f9a0"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# What `GET /clients?search=` matches with ILIKE '%term%' (core.repositories.clients).
SEARCHED = ("name", "email", "phone", "whatsapp", "external_ref")


def upgrade() -> None:
    op.create_index(
        "ix_clients_business_id_lower_name",
        "clients",
        ["business_id", sa.text("lower(name)"), "name", "id"],
    )
    if op.get_bind().dialect.name == "postgresql":
        # pg_trgm is a trusted extension (PostgreSQL 13+): the database owner may create it.
        op.execute("DROP INDEX ix_deliveries_business_id_created_at")
        op.execute(
            "CREATE INDEX ix_deliveries_business_id_created_at ON deliveries "
            "(business_id, created_at) INCLUDE (status, channel)"
        )
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        for column in SEARCHED:
            op.execute(
                f"CREATE INDEX trgm_clients_{column} ON clients USING gin ({column} gin_trgm_ops)"
            )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for column in SEARCHED:
            op.execute(f"DROP INDEX IF EXISTS trgm_clients_{column}")
        op.execute("DROP INDEX ix_deliveries_business_id_created_at")
        op.execute(
            "CREATE INDEX ix_deliveries_business_id_created_at ON deliveries "
            "(business_id, created_at)"
        )
    op.drop_index("ix_clients_business_id_lower_name", table_name="clients")
