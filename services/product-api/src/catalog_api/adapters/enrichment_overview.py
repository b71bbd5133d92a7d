"""A read-only view of the enricher's store for the console: how many products are enriched from their current
version and how many wait. The product API never writes `product_enrichment` (the enricher owns it) and imports
nothing of the enricher: this one query is its whole dependency (documented in docs/ownership.md)."""

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
               max(e.updated_at) AS last_enriched_at
        FROM products p LEFT JOIN product_enrichment e ON e.product_id = p.id
        """)
    ).one()
    return EnrichmentCounts(row.products, row.complete, row.outdated, row.missing, row.last_enriched_at)
