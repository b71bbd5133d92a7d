"""Import jobs and their per-row ledger.

Revision ID: 0002
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

# IF NOT EXISTS: databases made when one chain created every table adopt this chain without a reset.


def upgrade() -> None:
    op.execute("""
    CREATE TABLE IF NOT EXISTS import_jobs (
        id               uuid PRIMARY KEY,
        state            text NOT NULL CHECK (state IN ('PENDING', 'PROCESSING', 'COMPLETED',
                                                        'COMPLETED_WITH_ERRORS', 'FAILED', 'CANCELLED')),
        mode             text NOT NULL CHECK (mode IN ('import', 'retry')),
        format           text NOT NULL CHECK (format IN ('csv', 'jsonl')),
        file_name        text,
        object_key       text NOT NULL,
        file_bytes       bigint NOT NULL CHECK (file_bytes >= 0),
        file_sha256      text NOT NULL,
        submitted_by     text,
        rows_total       bigint,
        rows_processed   bigint NOT NULL DEFAULT 0,
        rows_created     bigint NOT NULL DEFAULT 0,
        rows_updated     bigint NOT NULL DEFAULT 0,
        rows_unchanged   bigint NOT NULL DEFAULT 0,
        rows_failed      bigint NOT NULL DEFAULT 0,
        rows_skipped     bigint NOT NULL DEFAULT 0,
        error_counts     jsonb NOT NULL DEFAULT '{}',
        -- Where the current run resumes: the byte offset after its last committed chunk, and the row and line
        -- numbers the next row gets there.
        bytes_done       bigint NOT NULL DEFAULT 0,
        next_row         bigint NOT NULL DEFAULT 1,
        next_line        bigint NOT NULL DEFAULT 1,
        run_rows         bigint NOT NULL DEFAULT 0,
        retries          integer NOT NULL DEFAULT 0,
        attempts         integer NOT NULL DEFAULT 0,
        claimed_by       text,
        claim_token      uuid,
        heartbeat_at     timestamptz,
        not_before       timestamptz,  -- a job handed back after an error waits until then
        cancel_requested boolean NOT NULL DEFAULT false,
        error            text,
        last_error       text,
        created_at       timestamptz NOT NULL DEFAULT now(),
        started_at       timestamptz,
        finished_at      timestamptz,
        updated_at       timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX IF NOT EXISTS import_jobs_state ON import_jobs (state, id);
    -- The claim's query: the oldest job not finished, however many finished jobs accumulate.
    CREATE INDEX IF NOT EXISTS import_jobs_open ON import_jobs (id) WHERE state IN ('PENDING', 'PROCESSING');
    -- The watchdog's query: running jobs whose worker stopped heartbeating.
    CREATE INDEX IF NOT EXISTS import_jobs_heartbeat ON import_jobs (heartbeat_at) WHERE state = 'PROCESSING';

    CREATE TABLE IF NOT EXISTS import_rows (
        job_id      uuid NOT NULL REFERENCES import_jobs (id) ON DELETE CASCADE,
        row_number  bigint NOT NULL,
        line_number bigint NOT NULL,
        sku         text,
        product_sku text,
        product_id  uuid,
        status      text NOT NULL CHECK (status IN ('created', 'updated', 'unchanged', 'failed', 'skipped')),
        category    text CHECK (category IN ('VALIDATION', 'DUPLICATE', 'REFERENCE', 'PARSE', 'INTERNAL')),
        field       text,
        message     text,
        errors      jsonb,
        attempts    integer NOT NULL DEFAULT 1,
        -- lower(product SKU) on the first row of a product the feed defined: finds a product given twice.
        defined_sku text,
        PRIMARY KEY (job_id, row_number)
    );
    CREATE INDEX IF NOT EXISTS import_rows_attention ON import_rows (job_id, status, row_number)
        WHERE status IN ('failed', 'skipped');
    CREATE INDEX IF NOT EXISTS import_rows_defined ON import_rows (job_id, defined_sku) WHERE defined_sku IS NOT NULL;
    """)


def downgrade() -> None:
    op.execute("DROP TABLE import_rows, import_jobs")
