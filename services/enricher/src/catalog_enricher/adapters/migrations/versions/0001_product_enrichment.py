"""Derived product fields, owned by the enricher.

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
    CREATE TABLE IF NOT EXISTS product_enrichment (
        product_id            uuid PRIMARY KEY REFERENCES products (id) ON DELETE CASCADE,
        computed_from_version bigint NOT NULL,
        keywords              text[] NOT NULL,
        slug                  text NOT NULL,
        category              text,
        price_band            text NOT NULL,
        completeness_score    numeric(3, 2) NOT NULL,
        missing_fields        text[] NOT NULL,
        updated_at            timestamptz NOT NULL DEFAULT now()
    );
    """)


def downgrade() -> None:
    op.execute("DROP TABLE product_enrichment")
