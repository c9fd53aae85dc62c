"""delivery counts: a ledger of +n/-n per (business, channel, status) that database
triggers append to whenever deliveries are inserted, change status or are deleted, so the
dashboard summary and /metrics sum a few rows instead of counting every delivery; the
worker folds the ledger (core.repositories.delivery_counts)

Revision ID: 7ed8f9a0b1c2
Revises: 6dc7e8f9a0b1
Create Date: 2026-12-05 11:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "7ed8f9a0b1c2"
down_revision: str | None = "6dc7e8f9a0b1"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# PostgreSQL: one statement-level trigger per operation, reading the statement's rows as
# transition tables, so a bulk insert or a cascade appends one row per group, not per row.
POSTGRES_FUNCTION = """
CREATE FUNCTION delivery_counts_follow() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    INSERT INTO delivery_counts (business_id, channel, status, n)
    SELECT business_id, channel, status, count(*) FROM new_rows GROUP BY 1, 2, 3;
  ELSIF TG_OP = 'DELETE' THEN
    INSERT INTO delivery_counts (business_id, channel, status, n)
    SELECT business_id, channel, status, -count(*) FROM old_rows GROUP BY 1, 2, 3;
  ELSE
    INSERT INTO delivery_counts (business_id, channel, status, n)
    SELECT business_id, channel, status, sum(n) FROM (
      SELECT business_id, channel, status, -1 AS n FROM old_rows
      UNION ALL
      SELECT business_id, channel, status, 1 AS n FROM new_rows
    ) AS changed GROUP BY 1, 2, 3 HAVING sum(n) <> 0;
  END IF;
  RETURN NULL;
END
$$
"""
POSTGRES_TRIGGERS = {
    "insert": "AFTER INSERT ON deliveries REFERENCING NEW TABLE AS new_rows",
    "update": "AFTER UPDATE ON deliveries REFERENCING OLD TABLE AS old_rows "
    "NEW TABLE AS new_rows",
    "delete": "AFTER DELETE ON deliveries REFERENCING OLD TABLE AS old_rows",
}

# SQLite: row-level triggers (it has no transition tables); it writes one row at a time
# under its single write lock anyway.
COLUMNS = "INSERT INTO delivery_counts (business_id, channel, status, n) VALUES"
SQLITE_TRIGGERS = {
    "insert": f"AFTER INSERT ON deliveries BEGIN {COLUMNS} "
    "(NEW.business_id, NEW.channel, NEW.status, 1); END",
    "update": "AFTER UPDATE OF business_id, channel, status ON deliveries "
    "WHEN OLD.business_id IS NOT NEW.business_id OR OLD.channel IS NOT NEW.channel "
    f"OR OLD.status IS NOT NEW.status BEGIN {COLUMNS} "
    "(OLD.business_id, OLD.channel, OLD.status, -1), "
    "(NEW.business_id, NEW.channel, NEW.status, 1); END",
    "delete": f"AFTER DELETE ON deliveries BEGIN {COLUMNS} "
    "(OLD.business_id, OLD.channel, OLD.status, -1); END",
}


def upgrade() -> None:
    # No foreign key to businesses: a deleted business's deliveries leave rows that sum to
    # zero (the delete trigger appends their negatives), and the next fold drops them.
    op.create_table(
        "delivery_counts",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("business_id", sa.Uuid(), nullable=False),
        sa.Column("channel", sa.String(length=20), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("n", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_delivery_counts")),
    )
    op.create_index(
        op.f("ix_delivery_counts_business_id"), "delivery_counts", ["business_id"]
    )
    postgres = op.get_bind().dialect.name == "postgresql"
    if postgres:
        op.execute(POSTGRES_FUNCTION)
    for operation, clause in (POSTGRES_TRIGGERS if postgres else SQLITE_TRIGGERS).items():
        each = " FOR EACH STATEMENT EXECUTE FUNCTION delivery_counts_follow()" if postgres else ""
        op.execute(f"CREATE TRIGGER delivery_counts_{operation} {clause}{each}")
    # The deliveries already there, counted once (the app is stopped while it migrates).
    op.execute(
        "INSERT INTO delivery_counts (business_id, channel, status, n) "
        "SELECT business_id, channel, status, count(*) FROM deliveries GROUP BY 1, 2, 3"
    )


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for operation in POSTGRES_TRIGGERS:
        suffix = " ON deliveries" if postgres else ""
        op.execute(f"DROP TRIGGER IF EXISTS delivery_counts_{operation}{suffix}")
    if postgres:
        op.execute("DROP FUNCTION IF EXISTS delivery_counts_follow()")
    op.drop_index(op.f("ix_delivery_counts_business_id"), table_name="delivery_counts")
    op.drop_table("delivery_counts")
