"""Read-only lineage queries over what the pipeline's stores already record.

The product API reads here, and only reads, tables other owners write (docs/ownership.md): the outbox (core, marked
by the relay), `search.documents` (indexer), `product_enrichment` (enricher), `product_images` (media) and the import
ledger (core, written by the importer). No stage writes anything for lineage beyond a timestamp column in the
statement it runs anyway.
"""

import uuid
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from catalog_api.domain.lineage import STAGES, ProductRecords, Stage, StageCount

# The version's outbox row is found by time (BRIN on created_at, migration 0006) and aggregate: it was written in
# the transaction that set updated_at, whose start (the row's created_at) is at most that transaction's length
# before; the window allows for slow transactions and some clock difference between the API hosts and the database.
_PRODUCT = text("""
SELECT p.version, p.updated_at, p.images,
       o.found, o.published_at,
       d.core_version, d.core_indexed_at, d.deleted, d.enrichment_version AS indexed_enrichment_version,
       d.enrichment_indexed_at,
       e.computed_from_version AS enrichment_version, e.updated_at AS enriched_at,
       m.sources, m.pending, m.version AS media_version, m.at AS media_at
FROM products p
LEFT JOIN LATERAL (
    SELECT true AS found, published_at FROM outbox
    WHERE created_at BETWEEN p.updated_at - interval '10 minutes' AND p.updated_at + interval '1 minute'
      AND aggregate_id = p.id::text AND event_type IN ('product.created', 'product.updated')
      AND (payload->>'version')::bigint = p.version
    ORDER BY id LIMIT 1
) o ON true
LEFT JOIN search.documents d ON d.product_id = p.id
LEFT JOIN product_enrichment e ON e.product_id = p.id
LEFT JOIN LATERAL (
    SELECT array_agg(source ORDER BY position) AS sources, count(*) FILTER (WHERE status = 'pending') AS pending,
           min(computed_from_version) AS version, max(updated_at) AS at
    FROM product_images WHERE product_id = p.id
) m ON true
WHERE p.id = :id
""")

# A job's product versions: what its rows created or updated (the newest version a row of the job wrote per product,
# a retry may write a product again). Each stage counts the versions whose store holds that version or a newer one.
# The outbox rows are those written in the job's chunk transactions: created_at equals the ledger's written_at
# (both the transaction's now()), found through the BRIN index over the job's time span.
_JOB_STAGES = tuple(stage.value for stage in STAGES)
_JOB = text(
    """
WITH job AS (
    SELECT DISTINCT ON (product_id) product_id, product_version AS version, written_at
    FROM import_rows
    WHERE job_id = :job AND status IN ('created', 'updated') AND product_version IS NOT NULL
    ORDER BY product_id, product_version DESC
), span AS (
    SELECT min(written_at) AS first, max(written_at) AS last FROM job
), published AS (
    SELECT o.aggregate_id, (o.payload->>'version')::bigint AS version, min(o.published_at) AS published_at
    FROM outbox o, span
    WHERE o.created_at BETWEEN span.first AND span.last
      AND o.event_type IN ('product.created', 'product.updated') AND o.published_at IS NOT NULL
    GROUP BY 1, 2
), media AS (
    SELECT i.product_id, count(*) AS rows, bool_and(i.status <> 'pending') AS settled, max(i.updated_at) AS at
    FROM product_images i JOIN job USING (product_id) GROUP BY i.product_id
), stages AS (
    SELECT true AS persisted, job.written_at AS persisted_at,
           pub.published_at IS NOT NULL AS published, pub.published_at,
           coalesce(d.core_version >= job.version AND NOT d.deleted, false) AS indexed_fast,
           d.core_indexed_at AS indexed_fast_at,
           coalesce(e.computed_from_version >= job.version, false) AS enriched, e.updated_at AS enriched_at,
           coalesce(d.enrichment_version >= job.version, false) AS indexed_full,
           d.enrichment_indexed_at AS indexed_full_at,
           coalesce(media.settled AND media.rows = jsonb_array_length(p.images), false) AS media_processed,
           media.at AS media_processed_at,
           coalesce(jsonb_array_length(p.images) > 0, false) AS has_images
    FROM job
    LEFT JOIN products p ON p.id = job.product_id
    LEFT JOIN published pub ON pub.aggregate_id = job.product_id::text AND pub.version = job.version
    LEFT JOIN search.documents d ON d.product_id = job.product_id
    LEFT JOIN product_enrichment e ON e.product_id = job.product_id
    LEFT JOIN media ON media.product_id = job.product_id
)
SELECT {columns}, count(*) FILTER (WHERE has_images) AS with_images
FROM stages
""".format(
        columns=", ".join(
            f"count(*) FILTER (WHERE {s}), min({s}_at) FILTER (WHERE {s}), max({s}_at) FILTER (WHERE {s})"
            for s in _JOB_STAGES
        )
    )
)

_UNCHANGED = text("""
SELECT count(DISTINCT product_id) FROM import_rows WHERE job_id = :job AND status = 'unchanged'
""")


class Lineage:
    """Lineage reads in the caller's session (read-only)."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def product(self, product_id: uuid.UUID) -> ProductRecords | None:
        """What the stores hold of the product's current version; None if there is no such product."""
        row = self.session.execute(_PRODUCT, {"id": product_id}).one_or_none()
        if row is None:
            return None
        return ProductRecords(
            version=int(row.version),
            persisted_at=row.updated_at,
            published=(row.published_at,) if row.found else None,
            core_version=_int(row.core_version),
            core_indexed_at=row.core_indexed_at,
            deleted_in_index=bool(row.deleted),
            enrichment_version=_int(row.enrichment_version),
            enriched_at=row.enriched_at,
            indexed_enrichment_version=_int(row.indexed_enrichment_version),
            enrichment_indexed_at=row.enrichment_indexed_at,
            images=[str(url) for url in row.images or ()],
            media_sources=list(row.sources or ()),
            media_pending=int(row.pending or 0),
            media_version=_int(row.media_version),
            media_at=row.media_at,
        )

    def job(self, job_id: uuid.UUID) -> tuple[list[StageCount], int]:
        """Per stage, how many of the job's product versions reached it and when; and how many products the job
        found unchanged (no new version, nothing to follow)."""
        row: Any = self.session.execute(_JOB, {"job": job_id}).one()
        unchanged = int(self.session.execute(_UNCHANGED, {"job": job_id}).scalar_one())
        changed = int(row[0])
        counts = []
        for n, stage in enumerate(STAGES):
            count, first, last = row[3 * n], row[3 * n + 1], row[3 * n + 2]
            of = int(row.with_images) if stage is Stage.MEDIA_PROCESSED else changed
            counts.append(StageCount(stage, int(count), first, last, of))
        return counts, unchanged


def _int(value: Any) -> int | None:
    return None if value is None else int(value)
