"""Dead-letter resolutions, import job state transitions, and the ledger's SKU index (the operator console).

- `dead_letter_resolutions`: Kafka topics are append-only, so what an operator did about a dead letter (replayed,
  discarded; by whom, when) is recorded here, one row per (processor, partition, offset).
- `import_job_transitions`: every state a job entered, in order, written by a trigger in the same transaction as
  the change, whoever makes it (the API's submit/cancel/retry or an importer). The live progress stream resumes
  from it, so a state change is never lost across a reconnect; no writer had to change.
- `import_rows_sku`: finding the jobs that carried a SKU reads an index, not every ledger.

Revision ID: 0005
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
    CREATE TABLE IF NOT EXISTS dead_letter_resolutions (
        processor   text NOT NULL,
        partition   integer NOT NULL,
        "offset"    bigint NOT NULL,
        -- What the record was (digest of key, value and headers): a topic recreated under the same offsets
        -- holds other records, which this resolution must not hide.
        fingerprint text NOT NULL,
        action      text NOT NULL CHECK (action IN ('replayed', 'discarded')),
        resolved_by text NOT NULL,
        resolved_at timestamptz NOT NULL DEFAULT now(),
        note        text,
        PRIMARY KEY (processor, partition, "offset")
    );

    CREATE TABLE IF NOT EXISTS import_job_transitions (
        id      bigserial PRIMARY KEY,
        job_id  uuid NOT NULL REFERENCES import_jobs (id) ON DELETE CASCADE,
        state   text NOT NULL,
        mode    text NOT NULL,
        retries integer NOT NULL,
        at      timestamptz NOT NULL DEFAULT clock_timestamp()
    );
    CREATE INDEX IF NOT EXISTS import_job_transitions_job ON import_job_transitions (job_id, id);

    CREATE OR REPLACE FUNCTION import_job_transition() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO import_job_transitions (job_id, state, mode, retries)
        VALUES (NEW.id, NEW.state, NEW.mode, NEW.retries);
        RETURN NULL;
    END $$;

    DROP TRIGGER IF EXISTS import_job_created ON import_jobs;
    CREATE TRIGGER import_job_created AFTER INSERT ON import_jobs
        FOR EACH ROW EXECUTE FUNCTION import_job_transition();
    -- Only real transitions (a retry re-enters PENDING from COMPLETED_WITH_ERRORS, so retries count too):
    -- progress updates of a chunk do not fire it.
    DROP TRIGGER IF EXISTS import_job_changed ON import_jobs;
    CREATE TRIGGER import_job_changed AFTER UPDATE ON import_jobs
        FOR EACH ROW WHEN (OLD.state IS DISTINCT FROM NEW.state OR OLD.retries IS DISTINCT FROM NEW.retries)
        EXECUTE FUNCTION import_job_transition();

    -- Jobs already there get their current state as their first transition.
    INSERT INTO import_job_transitions (job_id, state, mode, retries, at)
    SELECT id, state, mode, retries, updated_at FROM import_jobs j
    WHERE NOT EXISTS (SELECT 1 FROM import_job_transitions t WHERE t.job_id = j.id);

    CREATE INDEX IF NOT EXISTS import_rows_sku ON import_rows (lower(sku)) WHERE sku IS NOT NULL;
    """)


def downgrade() -> None:
    op.execute("""
    DROP INDEX IF EXISTS import_rows_sku;
    DROP TRIGGER IF EXISTS import_job_changed ON import_jobs;
    DROP TRIGGER IF EXISTS import_job_created ON import_jobs;
    DROP FUNCTION IF EXISTS import_job_transition();
    DROP TABLE IF EXISTS import_job_transitions, dead_letter_resolutions;
    """)
