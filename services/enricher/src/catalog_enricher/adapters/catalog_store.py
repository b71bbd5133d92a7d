"""The enricher's side of the catalog database: reads core fields, writes only the fields it owns."""

import enum
import uuid

from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from catalog_core.adapters.repository import ProductRepository
from catalog_enricher.domain.facts import ProductFacts
from catalog_enricher.domain.rules import EnrichmentResult
from catalog_kit.outbox import OutboxWriter


class SaveOutcome(enum.StrEnum):
    SAVED = "saved"  # stored, and product.enriched is in the outbox
    STALE = "stale"  # the product changed since the facts were read: recompute from the current data
    UNCHANGED = "unchanged"  # a result from this version (or a newer one) is already stored
    GONE = "gone"  # the product was deleted


# Applies only over an older result, so a duplicate or late computation never replaces a fresher one.
_UPSERT = text("""
INSERT INTO product_enrichment AS e
    (product_id, computed_from_version, keywords, slug, category, price_band, completeness_score, missing_fields,
     updated_at)
VALUES (:product_id, :version, :keywords, :slug, :category, :price_band, :score, :missing, now())
ON CONFLICT (product_id) DO UPDATE SET
    computed_from_version = EXCLUDED.computed_from_version, keywords = EXCLUDED.keywords, slug = EXCLUDED.slug,
    category = EXCLUDED.category, price_band = EXCLUDED.price_band, completeness_score = EXCLUDED.completeness_score,
    missing_fields = EXCLUDED.missing_fields, updated_at = now()
WHERE e.computed_from_version < EXCLUDED.computed_from_version
""")


class EnrichmentStore:
    def __init__(self, sessions: sessionmaker[Session], outbox: OutboxWriter) -> None:
        self.sessions = sessions
        self.outbox = outbox

    def current_facts(self, product_id: str) -> ProductFacts | None:
        """The product's core fields as they are now; None if it was deleted."""
        with self.sessions() as session:
            product = ProductRepository(session).get(uuid.UUID(product_id))
        return None if product is None else ProductFacts.from_snapshot(product.snapshot())

    def save(self, result: EnrichmentResult) -> SaveOutcome:
        """Store `result` with its event in one transaction, only if it was computed from the current version."""
        with self.sessions() as session, session.begin():
            # FOR SHARE holds off core writers until commit, so the version checked is the version stored.
            version = session.execute(
                text("SELECT version FROM products WHERE id = :id FOR SHARE"), {"id": result.product_id}
            ).scalar()
            if version is None:
                return SaveOutcome.GONE
            if version != result.computed_from_version:
                return SaveOutcome.STALE
            stored = (
                session.connection()
                .execute(
                    _UPSERT,
                    {
                        "product_id": result.product_id,
                        "version": result.computed_from_version,
                        "keywords": list(result.keywords),
                        "slug": result.slug,
                        "category": result.category,
                        "price_band": result.price_band,
                        "score": result.completeness.score,
                        "missing": list(result.completeness.missing),
                    },
                )
                .rowcount
            )
            if not stored:
                return SaveOutcome.UNCHANGED
            self.outbox.add(
                session,
                event_type="product.enriched",
                aggregate_type="product",
                aggregate_id=result.product_id,
                data=result.to_event_data(),
            )
            return SaveOutcome.SAVED
