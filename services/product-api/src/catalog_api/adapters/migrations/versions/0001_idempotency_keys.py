"""Stored responses of idempotent requests (the product API's own table).

Revision ID: 0001
"""

from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# IF NOT EXISTS: databases made when one chain created every table adopt this chain without a reset.


def upgrade() -> None:
    op.execute("""
    CREATE TABLE IF NOT EXISTS idempotency_keys (
        key          text PRIMARY KEY,
        request_hash text NOT NULL,
        status_code  integer,
        body         jsonb,
        headers      jsonb,
        created_at   timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX IF NOT EXISTS idempotency_keys_created_at ON idempotency_keys (created_at);
    """)


def downgrade() -> None:
    op.execute("DROP TABLE idempotency_keys")
