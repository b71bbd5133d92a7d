"""Outbox lanes: interactive rows (lane 0) are published before bulk rows (lane 1).

Revision ID: 0003
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A constant default: PostgreSQL adds the column without rewriting the table.
    op.execute("""
    ALTER TABLE outbox ADD COLUMN IF NOT EXISTS lane smallint NOT NULL DEFAULT 0 CHECK (lane IN (0, 1));
    CREATE INDEX IF NOT EXISTS outbox_unpublished_by_lane ON outbox (lane, id) WHERE published_at IS NULL;
    DROP INDEX IF EXISTS outbox_unpublished;
    """)


def downgrade() -> None:
    op.execute("""
    CREATE INDEX IF NOT EXISTS outbox_unpublished ON outbox (id) WHERE published_at IS NULL;
    DROP INDEX IF EXISTS outbox_unpublished_by_lane;
    ALTER TABLE outbox DROP COLUMN lane;
    """)
