"""Enrichment work by priority, parked work, failures; the status of stored enrichments.

Revision ID: 0002
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
    CREATE TABLE enrichment_queue (
        product_id   uuid PRIMARY KEY REFERENCES products (id) ON DELETE CASCADE,
        priority     smallint NOT NULL CHECK (priority BETWEEN 0 AND 3),
        state        text NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'parked', 'failed')),
        reason       text NOT NULL,
        traceparent  text,
        requests     bigint NOT NULL DEFAULT 1,
        attempts     integer NOT NULL DEFAULT 0,
        last_error   text,
        enqueued_at  timestamptz NOT NULL DEFAULT now(),
        available_at timestamptz NOT NULL DEFAULT now()
    );
    -- The claim's order; only queued rows are ever claimed.
    CREATE INDEX enrichment_queue_claim ON enrichment_queue (priority, enqueued_at) WHERE state = 'queued';
    CREATE INDEX enrichment_queue_parked ON enrichment_queue (enqueued_at) WHERE state = 'parked';

    ALTER TABLE product_enrichment
        ADD COLUMN status text NOT NULL DEFAULT 'complete' CHECK (status IN ('complete', 'degraded')),
        ADD COLUMN degraded text[] NOT NULL DEFAULT '{}',
        ADD COLUMN rules_version integer NOT NULL DEFAULT 1,
        -- Counts the results stored for the product: of two product.enriched events of the same version, the one
        -- with the higher revision is the fresher (a complete result over a degraded one, newer rules).
        ADD COLUMN revision bigint NOT NULL DEFAULT 1;
    CREATE INDEX product_enrichment_degraded ON product_enrichment (product_id) WHERE status = 'degraded';
    CREATE INDEX product_enrichment_age ON product_enrichment (updated_at);
    """)


def downgrade() -> None:
    op.execute("""
    DROP TABLE enrichment_queue;
    ALTER TABLE product_enrichment DROP COLUMN status, DROP COLUMN degraded, DROP COLUMN rules_version,
        DROP COLUMN revision;
    """)
