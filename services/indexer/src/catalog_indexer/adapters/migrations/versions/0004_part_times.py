"""When each part of a document was indexed: `core_indexed_at` (the product searchable) and `enrichment_indexed_at`
(its derived fields searchable), for lineage.

`indexed_at` dates only the last change of any part. The new columns are set by the same guarded statements, from
the same clock reading, so they cost a timestamp per changed row and nothing per unchanged one. Nullable, no
default: adding them rewrites nothing; documents indexed before keep NULL until their part changes again.

Revision ID: s0004
"""

from alembic import op

revision = "s0004"
down_revision = "s0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
    ALTER TABLE search.documents ADD COLUMN IF NOT EXISTS core_indexed_at timestamptz;
    ALTER TABLE search.documents ADD COLUMN IF NOT EXISTS enrichment_indexed_at timestamptz;
    """)


def downgrade() -> None:
    op.execute("""
    ALTER TABLE search.documents DROP COLUMN enrichment_indexed_at;
    ALTER TABLE search.documents DROP COLUMN core_indexed_at;
    """)
