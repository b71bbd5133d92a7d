"""Lineage and traces: what a product change and an import job went through, from data written anyway.

- `import_jobs.traceparent`: the trace of the request that submitted (or retried) the job; the importer continues it
  in the events of the job's rows, also after a restart or a takeover.
- `import_rows.product_version` and `written_at`: the version a row wrote and when (its chunk's transaction time,
  which is also its outbox row's `created_at`), so a job's lineage can tell which of its products' versions reached
  each stage. Existing rows keep NULL: only the default is new, so no table rewrite.
- A BRIN index on `outbox.created_at`: lineage finds a change's outbox row by time and aggregate without a B-tree
  on the write path (a BRIN index is updated once per page range, not per row).

Revision ID: 0006
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
    ALTER TABLE import_jobs ADD COLUMN IF NOT EXISTS traceparent text;
    ALTER TABLE import_rows ADD COLUMN IF NOT EXISTS product_version bigint;
    ALTER TABLE import_rows ADD COLUMN IF NOT EXISTS written_at timestamptz;
    ALTER TABLE import_rows ALTER COLUMN written_at SET DEFAULT now();
    CREATE INDEX IF NOT EXISTS outbox_created_at ON outbox USING brin (created_at);
    """)


def downgrade() -> None:
    op.execute("""
    DROP INDEX IF EXISTS outbox_created_at;
    ALTER TABLE import_rows DROP COLUMN written_at;
    ALTER TABLE import_rows DROP COLUMN product_version;
    ALTER TABLE import_jobs DROP COLUMN traceparent;
    """)
