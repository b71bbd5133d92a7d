"""API keys: a digest per key (never the key), its name and scopes, when it was made and revoked.

Revision ID: 0002
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
    CREATE TABLE api_keys (
        id          uuid PRIMARY KEY,
        name        text NOT NULL,
        scopes      text[] NOT NULL,
        key_sha256  bytea NOT NULL CHECK (length(key_sha256) = 32),
        created_at  timestamptz NOT NULL DEFAULT now(),
        revoked_at  timestamptz
    );
    """)


def downgrade() -> None:
    op.execute("DROP TABLE api_keys")
