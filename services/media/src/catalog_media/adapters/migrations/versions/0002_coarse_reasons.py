"""Failure reasons are coarse codes only, and a failed image keeps no hash.

Before, `reason` held `<code>: <detail>` — driver messages, HTTP statuses — and a refused body's sha256 was kept,
all of it public at `GET /products/{id}/images`: a way to probe internal addresses and read what they answer.
Existing rows are cut down to the coarse code their old code meant, and the constraints keep it that way.

Revision ID: 0002
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

REASONS = ("blocked_address", "unreachable", "timeout", "too_large", "not_an_image")


def upgrade() -> None:
    op.execute("""
    UPDATE product_images SET
        reason = CASE split_part(coalesce(reason, ''), ':', 1)
            WHEN 'blocked_address' THEN 'blocked_address'
            WHEN 'unreachable' THEN 'unreachable'
            WHEN 'timeout' THEN 'timeout'
            WHEN 'too_large' THEN 'too_large'
            WHEN 'too_many_bytes' THEN 'too_large'
            WHEN 'too_many_pixels' THEN 'too_large'
            WHEN 'dimensions_too_large' THEN 'too_large'
            ELSE 'not_an_image'
        END,
        sha256 = NULL
    WHERE status = 'failed'
    """)
    op.execute("UPDATE product_images SET reason = NULL WHERE status <> 'failed' AND reason IS NOT NULL")
    listed = ", ".join(f"'{r}'" for r in REASONS)
    op.execute(f"""
    ALTER TABLE product_images
        ADD CONSTRAINT product_images_reason_coarse CHECK (
            (status = 'failed' AND reason IN ({listed})) OR (status <> 'failed' AND reason IS NULL)),
        ADD CONSTRAINT product_images_failed_no_hash CHECK (status <> 'failed' OR sha256 IS NULL)
    """)


def downgrade() -> None:
    op.execute("""
    ALTER TABLE product_images
        DROP CONSTRAINT product_images_reason_coarse,
        DROP CONSTRAINT product_images_failed_no_hash
    """)
