"""Where the pipeline fell behind the catalog: found by comparing the catalog with the enrichment table and the read
model, and healed by announcing again what a lost event should have carried.

Each query is a bounded keyset scan by product id from a cursor, over rows older than a grace period (the normal
path gets to fresh ones first): a pass over a million products is many small statements, never one long one. The
read model (`search.documents`, the indexer's) is only read here.
"""

import uuid
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from catalog_core.service_layer.catalog import ProductCatalog
from catalog_kit.outbox import OutboxWriter

# Products the read model has not got at their stored version, or whose enrichment is missing or older and not
# in the enricher's work queue (queued work is on its way, failed work waits for a change: re-announcing either
# would only add to the backlog).
_BEHIND = text("""
SELECT p.id FROM products p
LEFT JOIN search.documents d ON d.product_id = p.id
LEFT JOIN product_enrichment e ON e.product_id = p.id
WHERE p.id > :after AND p.updated_at < now() - make_interval(secs => :grace_s)
  AND (d.product_id IS NULL OR d.core_version < p.version
       OR ((e.product_id IS NULL OR e.computed_from_version < p.version)
           AND NOT EXISTS (SELECT 1 FROM enrichment_queue q WHERE q.product_id = p.id)))
ORDER BY p.id LIMIT :limit
""")

# Enrichments stored at the product's current version that the read model never received (a lost event).
_ENRICHMENT_NOT_INDEXED = text("""
SELECT e.product_id, e.computed_from_version, e.keywords, e.slug, e.category, e.price_band, e.completeness_score,
       e.missing_fields
FROM product_enrichment e
JOIN products p ON p.id = e.product_id AND p.version = e.computed_from_version
JOIN search.documents d ON d.product_id = e.product_id AND d.core_version = e.computed_from_version
WHERE e.product_id > :after AND e.updated_at < now() - make_interval(secs => :grace_s)
  AND d.enrichment_version < e.computed_from_version
ORDER BY e.product_id LIMIT :limit
""")

_ONE_RECONCILER = 0x72636E63  # "rcnc": with several enrichers, one pass at a time


class PipelineGaps:
    """Finds and heals, a batch at a time; each batch is one transaction (its events go out through the outbox)."""

    def __init__(self, sessions: sessionmaker[Session], outbox: OutboxWriter) -> None:
        self.sessions = sessions
        self.outbox = outbox

    def heal_behind(self, after: uuid.UUID, grace_s: float, limit: int) -> list[uuid.UUID]:
        """Announce again the products the read model or the enrichment lacks; returns the ids, in order."""
        with self.sessions() as session, session.begin():
            if not _take_turn(session):
                return []
            ids = [row[0] for row in session.execute(_BEHIND, {"after": after, "grace_s": grace_s, "limit": limit})]
            catalog = ProductCatalog(session, self.outbox)
            for product_id in ids:
                catalog.reannounce(product_id)
        return ids

    def heal_unindexed_enrichments(self, after: uuid.UUID, grace_s: float, limit: int) -> list[uuid.UUID]:
        """Publish `product.enriched` again for stored enrichments the read model is missing; returns the ids."""
        with self.sessions() as session, session.begin():
            if not _take_turn(session):
                return []
            rows = session.execute(_ENRICHMENT_NOT_INDEXED, {"after": after, "grace_s": grace_s, "limit": limit})
            ids = []
            for row in rows:
                self.outbox.add(
                    session,
                    event_type="product.enriched",
                    aggregate_type="product",
                    aggregate_id=str(row.product_id),
                    data=_enriched_event(row),
                )
                ids.append(row.product_id)
        return ids


def _take_turn(session: Session) -> bool:
    return bool(session.execute(text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": _ONE_RECONCILER}).scalar())


def _enriched_event(row: Any) -> dict[str, Any]:
    return {
        "id": str(row.product_id),
        "version": int(row.computed_from_version),
        "keywords": list(row.keywords),
        "slug": row.slug,
        "category": row.category,
        "price_band": row.price_band,
        "completeness": {"score": float(row.completeness_score), "missing": list(row.missing_fields)},
    }
