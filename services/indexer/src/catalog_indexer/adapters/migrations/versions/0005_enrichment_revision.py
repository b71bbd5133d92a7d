"""Which of two enrichments of the same core version is the fresher, and whether it was degraded.

The enricher may store a second result for the same core version: a complete one over a degraded one (the provider
is back), one made by newer rules (a refresh). `product.enriched` carries the enricher's `revision` for that; the
guard compares (version, revision), so such a result reaches the read model and a replayed older event never
replaces it. `enrichment_degraded` lets searches tell a degraded result from a complete one. Constant defaults:
adding them rewrites nothing.

Revision ID: s0005
"""

from alembic import op

revision = "s0005"
down_revision = "s0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
    ALTER TABLE search.documents ADD COLUMN IF NOT EXISTS enrichment_revision bigint NOT NULL DEFAULT 0;
    ALTER TABLE search.documents ADD COLUMN IF NOT EXISTS enrichment_degraded boolean NOT NULL DEFAULT false;
    """)


def downgrade() -> None:
    op.execute("""
    ALTER TABLE search.documents DROP COLUMN enrichment_degraded;
    ALTER TABLE search.documents DROP COLUMN enrichment_revision;
    """)
