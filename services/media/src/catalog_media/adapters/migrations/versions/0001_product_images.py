"""Media fields of products, owned by the media service.

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
    CREATE TABLE IF NOT EXISTS product_images (
        product_id            uuid NOT NULL REFERENCES products (id) ON DELETE CASCADE,
        position              integer NOT NULL CHECK (position >= 0),  -- index in the product's image list
        source                text NOT NULL,  -- the image URL as the product lists it
        sha256                text,           -- of the original bytes; null when they could not be fetched
        status                text NOT NULL CHECK (status IN ('pending', 'processed', 'failed')),
        reason                text,           -- why it failed: '<code>: <detail>'
        width                 integer,
        height                integer,
        dominant_color        text,
        derivatives           jsonb NOT NULL DEFAULT '[]',  -- [{size, format, width, height, key}]
        renditions            text NOT NULL,  -- the size/format set it was made with; another set means redo
        computed_from_version bigint NOT NULL,
        updated_at            timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (product_id, position)
    );
    -- Content-hash reuse: bytes already processed (for any product) with the current renditions are not decoded
    -- again.
    CREATE INDEX IF NOT EXISTS product_images_content ON product_images (sha256, renditions) WHERE status = 'processed';
    """)


def downgrade() -> None:
    op.execute("DROP TABLE product_images")
