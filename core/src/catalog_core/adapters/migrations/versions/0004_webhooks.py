"""Webhooks: subscriptions (managed by admins through the product API), deliveries and their attempts (made by the
webhooks service).

Revision ID: 0004
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
    CREATE TABLE IF NOT EXISTS webhook_subscriptions (
        id          uuid PRIMARY KEY,
        url         text NOT NULL,
        event_types text[] NOT NULL CHECK (cardinality(event_types) > 0),
        secret      text NOT NULL,  -- whsec_<base64>: the dispatcher signs with it, so it cannot be a digest
        description text,
        active      boolean NOT NULL DEFAULT true,
        created_by  text,           -- the admin key's principal id
        created_at  timestamptz NOT NULL DEFAULT now(),
        updated_at  timestamptz NOT NULL DEFAULT now()
    );
    CREATE TABLE IF NOT EXISTS webhook_deliveries (
        id              uuid PRIMARY KEY,
        subscription_id uuid NOT NULL REFERENCES webhook_subscriptions (id) ON DELETE CASCADE,
        event_id        text NOT NULL,  -- the webhook-id header: the same on every attempt and redelivery
        event_type      text NOT NULL,
        body            text NOT NULL,  -- exactly the bytes signed and sent
        state           text NOT NULL CHECK (state IN ('pending', 'delivered', 'failed')),
        attempts        integer NOT NULL DEFAULT 0,  -- every attempt ever made
        round_attempts  integer NOT NULL DEFAULT 0,  -- since the last (re)delivery: what the schedule counts
        next_attempt_at timestamptz,    -- pending: when it is due (also the lease of a claimed delivery)
        claim_token     uuid,           -- the sender holding it; its result is recorded only under this token
        last_status     integer,
        last_error      text,
        created_at      timestamptz NOT NULL DEFAULT now(),
        updated_at      timestamptz NOT NULL DEFAULT now(),
        delivered_at    timestamptz,
        -- At-least-once consumption must not send an event twice to one subscription.
        UNIQUE (subscription_id, event_id)
    );
    -- The dispatcher's only hot query: pending deliveries by due time.
    CREATE INDEX IF NOT EXISTS webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE state = 'pending';
    -- Newest first per subscription (ids are time-ordered UUIDv7).
    CREATE INDEX IF NOT EXISTS webhook_deliveries_by_subscription ON webhook_deliveries (subscription_id, id);
    CREATE TABLE IF NOT EXISTS webhook_attempts (
        id          bigserial PRIMARY KEY,
        delivery_id uuid NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
        number      integer NOT NULL,
        started_at  timestamptz NOT NULL,
        status_code integer,
        error       text,
        response_ms integer NOT NULL,
        UNIQUE (delivery_id, number)
    );
    """)


def downgrade() -> None:
    op.execute("DROP TABLE webhook_attempts; DROP TABLE webhook_deliveries; DROP TABLE webhook_subscriptions")
