"""Catalog core: products, variants, catalog-wide SKUs and the outbox.

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
    CREATE TABLE IF NOT EXISTS products (
        id          uuid PRIMARY KEY,
        sku         text NOT NULL,
        name        text NOT NULL,
        brand       text,
        description text,
        price       numeric(20, 4) NOT NULL CHECK (price >= 0),
        currency    text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
        stock       integer NOT NULL CHECK (stock >= 0),
        attributes  jsonb NOT NULL DEFAULT '{}',
        images      jsonb NOT NULL DEFAULT '[]',
        status      text NOT NULL CHECK (status IN ('draft', 'active', 'archived')),
        version     bigint NOT NULL CHECK (version >= 1),
        created_at  timestamptz NOT NULL DEFAULT now(),
        updated_at  timestamptz NOT NULL DEFAULT now()
    );
    -- SKU uniqueness (products and variants together, case-insensitive) is product_skus' job.
    CREATE INDEX IF NOT EXISTS products_sku ON products (lower(sku));
    CREATE INDEX IF NOT EXISTS products_brand ON products (brand, id);
    CREATE INDEX IF NOT EXISTS products_status ON products (status, id);
    CREATE INDEX IF NOT EXISTS products_updated_at ON products (updated_at);

    CREATE TABLE IF NOT EXISTS variants (
        id         uuid PRIMARY KEY,
        product_id uuid NOT NULL REFERENCES products (id) ON DELETE CASCADE,
        position   integer NOT NULL,
        sku        text NOT NULL,
        options    jsonb NOT NULL,
        price      numeric(20, 4) CHECK (price >= 0),
        stock      integer NOT NULL CHECK (stock >= 0),
        UNIQUE (product_id, position)
    );
    CREATE INDEX IF NOT EXISTS variants_sku ON variants (lower(sku));

    CREATE TABLE IF NOT EXISTS product_skus (
        sku_key    text PRIMARY KEY,
        product_id uuid NOT NULL REFERENCES products (id) ON DELETE CASCADE
    );
    CREATE INDEX IF NOT EXISTS product_skus_product ON product_skus (product_id);

    CREATE TABLE IF NOT EXISTS outbox (
        id             bigserial PRIMARY KEY,
        event_id       uuid NOT NULL UNIQUE,
        aggregate_type text NOT NULL,
        aggregate_id   text NOT NULL,
        event_type     text NOT NULL,
        topic          text NOT NULL,
        payload        jsonb NOT NULL,
        headers        jsonb NOT NULL,
        created_at     timestamptz NOT NULL DEFAULT now(),
        published_at   timestamptz
    );
    CREATE INDEX IF NOT EXISTS outbox_unpublished ON outbox (id) WHERE published_at IS NULL;
    CREATE INDEX IF NOT EXISTS outbox_published_at ON outbox (published_at) WHERE published_at IS NOT NULL;
    """)


def downgrade() -> None:
    op.execute("DROP TABLE outbox, product_skus, variants, products")
