"""Recurring jobs and their state (one run per tick across instances), and supplier feed sources pulled on a schedule.

Revision ID: 0007
"""

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
    CREATE TABLE schedules (
        name             text PRIMARY KEY,
        owner            text NOT NULL,
        cron             text NOT NULL,
        enabled          boolean NOT NULL DEFAULT true,
        next_run_at      timestamptz NOT NULL,
        running_until    timestamptz,
        running_by       text,
        last_started_at  timestamptz,
        last_finished_at timestamptz,
        last_result      text CHECK (last_result IN ('ok', 'skipped', 'failed')),
        last_detail      text,
        runs             bigint NOT NULL DEFAULT 0,
        created_at       timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX schedules_due ON schedules (owner, next_run_at) WHERE enabled;

    CREATE TABLE feed_sources (
        schedule_name text PRIMARY KEY REFERENCES schedules (name) ON DELETE CASCADE,
        source        text NOT NULL,
        format        text NOT NULL,
        submitted_by  text NOT NULL,
        last_etag     text,
        last_sha256   text,
        last_job_id   uuid,
        last_pulled_at timestamptz
    );
    """)


def downgrade() -> None:
    op.execute("DROP TABLE feed_sources; DROP TABLE schedules;")
