"""A read-only view of the enricher's store: for the console, how many products are enriched from their current
version, how many wait, are degraded or failed; for a product view, whether that product waits. The product API
never writes `product_enrichment` or `enrichment_queue` (the enricher owns them) and imports nothing of the
enricher: these two queries are its whole dependency (documented in docs/ownership.md)."""

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.orm import Session


@dataclass(frozen=True)
class EnrichmentCounts:
    products: int
    complete: int  # computed from the product's current version
    outdated: int  # computed from an older version: a newer one is on its way
    missing: int  # never enriched yet
    last_enriched_at: datetime | None
    degraded: int = 0  # from the current version, but without the provider: retried when it is back
    failed: int = 0  # given up until the product changes (`enrichment_queue`, with a reason)

    @property
    def pending(self) -> int:
        return self.outdated + self.missing


def enrichment_counts(session: Session) -> EnrichmentCounts:
    row = session.execute(
        text("""
        SELECT count(*) AS products,
               count(*) FILTER (WHERE e.computed_from_version >= p.version) AS complete,
               count(*) FILTER (WHERE e.computed_from_version < p.version) AS outdated,
               count(*) FILTER (WHERE e.product_id IS NULL) AS missing,
               count(*) FILTER (WHERE e.computed_from_version >= p.version AND e.status = 'degraded') AS degraded,
               max(e.updated_at) AS last_enriched_at,
               (SELECT count(*) FROM enrichment_queue WHERE state = 'failed') AS failed
        FROM products p LEFT JOIN product_enrichment e ON e.product_id = p.id
        """)
    ).one()
    return EnrichmentCounts(
        row.products, row.complete, row.outdated, row.missing, row.last_enriched_at, row.degraded, row.failed
    )


def enrichment_pending(session: Session, product_id: str, version: int) -> bool:
    """Whether the product's stored enrichment is older than `version` (or missing) and not given up on: someone
    viewing it now is worth a critical request. Two primary-key lookups."""
    return bool(
        session.execute(
            text("""
            SELECT coalesce(e.computed_from_version < :version, true)
                   AND NOT EXISTS (SELECT 1 FROM enrichment_queue q
                                   WHERE q.product_id = CAST(:id AS uuid) AND q.state = 'failed')
            FROM (SELECT 1) AS one LEFT JOIN product_enrichment e ON e.product_id = CAST(:id AS uuid)
            """),
            {"id": product_id, "version": version},
        ).scalar_one()
    )
