"""The enricher's side of the catalog database: reads core fields, writes only the fields it owns."""

import enum
import json
import uuid
from collections.abc import Sequence
from decimal import Decimal
from types import MappingProxyType
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from catalog_core.domain.model import format_price
from catalog_enricher.domain.facts import ProductFacts
from catalog_enricher.domain.rules import RULES_VERSION, EnrichmentResult
from catalog_kit.outbox import OutboxWriter, PendingEvent
from catalog_schemas import Lane


class SaveOutcome(enum.StrEnum):
    SAVED = "saved"  # stored, and product.enriched is in the outbox
    STALE = "stale"  # the product changed since the facts were read: recompute from the current data
    UNCHANGED = "unchanged"  # a result from this version (or a newer one) is already stored
    GONE = "gone"  # the product was deleted


# In id order, the order every batch writer of the catalog locks products in, so that no two batches deadlock.
# FOR SHARE holds off core writers until commit, so the versions checked are the versions stored.
_LOCK_VERSIONS = text("""
SELECT id::text AS id, version FROM products WHERE id = ANY(CAST(:ids AS uuid[])) ORDER BY id FOR SHARE
""")

# Many results in one statement (one JSON document, decoded by PostgreSQL). Applies over an older result, so a
# duplicate or late computation never replaces a fresher one; RETURNING names the rows actually written. A result of
# the same version replaces the stored one only to improve it: a complete one over a degraded one, or one made by
# newer rules or after `refresh_after_s` (a refresh) - and never a complete one by a degraded one.
_UPSERT_MANY = text("""
INSERT INTO product_enrichment AS e
    (product_id, computed_from_version, keywords, slug, category, price_band, completeness_score, missing_fields,
     status, degraded, rules_version, updated_at)
SELECT r.product_id, r.version, r.keywords, r.slug, r.category, r.price_band, r.score, r.missing,
       CASE WHEN cardinality(r.degraded) > 0 THEN 'degraded' ELSE 'complete' END, r.degraded, r.rules_version, now()
FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS r(
    product_id uuid, version bigint, keywords text[], slug text, category text, price_band text, score numeric,
    missing text[], degraded text[], rules_version integer)
ORDER BY r.product_id
ON CONFLICT (product_id) DO UPDATE SET
    computed_from_version = EXCLUDED.computed_from_version, keywords = EXCLUDED.keywords, slug = EXCLUDED.slug,
    category = EXCLUDED.category, price_band = EXCLUDED.price_band, completeness_score = EXCLUDED.completeness_score,
    missing_fields = EXCLUDED.missing_fields, status = EXCLUDED.status, degraded = EXCLUDED.degraded,
    rules_version = EXCLUDED.rules_version, revision = e.revision + 1, updated_at = now()
WHERE e.computed_from_version < EXCLUDED.computed_from_version
   OR (e.computed_from_version = EXCLUDED.computed_from_version
       AND (EXCLUDED.status = 'complete' OR e.status = 'degraded')
       AND ((e.status = 'degraded' AND EXCLUDED.status = 'complete')
            OR e.rules_version < EXCLUDED.rules_version
            OR e.updated_at < now() - make_interval(secs => :refresh_after_s)))
RETURNING e.product_id::text AS product_id, e.revision
""")

_FACTS = text("""
SELECT p.id::text AS id, p.version, p.sku, p.name, p.brand, p.description, p.price, p.currency, p.attributes,
       p.images, (SELECT count(*) FROM variants v WHERE v.product_id = p.id) AS variant_count
FROM products p WHERE p.id = ANY(CAST(:ids AS uuid[]))
""")


class EnrichmentStore:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        outbox: OutboxWriter,
        *,
        rules_version: int = RULES_VERSION,
        refresh_after_s: float = 7 * 86400.0,
    ) -> None:
        self.sessions = sessions
        self.outbox = outbox
        self.rules_version = rules_version
        self.refresh_after_s = refresh_after_s

    def current_facts(self, product_id: str) -> ProductFacts | None:
        """The product's core fields as they are now; None if it was deleted."""
        return self.current_facts_many([product_id]).get(product_id)

    def current_facts_many(self, product_ids: Sequence[str]) -> dict[str, ProductFacts]:
        """The current core fields of those of the products that still exist, by id, in one query."""
        if not product_ids:
            return {}
        asked = {str(uuid.UUID(product_id)): product_id for product_id in product_ids}  # keyed as the caller spells
        with self.sessions() as session:
            rows = session.execute(_FACTS, {"ids": list(asked)}).all()
        return {asked[row.id]: _facts(row) for row in rows}

    def save(self, result: EnrichmentResult, lane: Lane = Lane.INTERACTIVE) -> SaveOutcome:
        """Store `result` with its event in one transaction, only if it was computed from the current version."""
        return self.save_many([result], lane)[0]

    def save_many(
        self, results: Sequence[EnrichmentResult], lane: Lane, traceparents: Sequence[str | None] = ()
    ) -> list[SaveOutcome]:
        """Store the results computed from their product's current version, with their `product.enriched` events
        in `lane`, all in one transaction; the outcome of each result, in order. `traceparents`: per result, the
        trace its event continues (the handled record's).

        At most one result per product (the caller folds a batch to each product's newest version).
        """
        if not results:
            return []
        # The database's spelling of each id, so that results and the rows read back match whatever the event's.
        keys = [str(uuid.UUID(result.product_id)) for result in results]
        if len(set(keys)) != len(keys):
            raise ValueError("save_many takes at most one result per product")
        with self.sessions() as session, session.begin():
            versions = {row.id: int(row.version) for row in session.execute(_LOCK_VERSIONS, {"ids": keys})}
            current = [
                (key, r) for key, r in zip(keys, results, strict=True) if versions.get(key) == r.computed_from_version
            ]
            saved: dict[str, int] = {}  # product id -> the revision stored
            if current:
                rows = json.dumps([_row(key, r, self.rules_version) for key, r in current], separators=(",", ":"))
                params = {"rows": rows, "refresh_after_s": self.refresh_after_s}
                saved = {row.product_id: int(row.revision) for row in session.execute(_UPSERT_MANY, params)}
            traces = dict(zip(keys, traceparents, strict=False))
            events = [
                PendingEvent("product.enriched", "product", r.product_id, r.to_event_data(saved[key]), traces.get(key))
                for key, r in current
                if key in saved
            ]
            self.outbox.add_many(session, events, lane=lane)
        return [_outcome(r, versions.get(key), key in saved) for key, r in zip(keys, results, strict=True)]


def _outcome(result: EnrichmentResult, version: int | None, saved: bool) -> SaveOutcome:
    if version is None:
        return SaveOutcome.GONE
    if version != result.computed_from_version:
        return SaveOutcome.STALE
    return SaveOutcome.SAVED if saved else SaveOutcome.UNCHANGED


def _row(key: str, result: EnrichmentResult, rules_version: int) -> dict[str, Any]:
    return {
        "product_id": key,
        "version": result.computed_from_version,
        "keywords": list(result.keywords),
        "slug": result.slug,
        "category": result.category,
        "price_band": result.price_band,
        "score": result.completeness.score,
        "missing": list(result.completeness.missing),
        "degraded": list(result.degraded),
        "rules_version": rules_version,
    }


def _facts(row: Any) -> ProductFacts:
    # The price as the product's events carry it (the currency's minor units), so that facts read here and facts
    # from an event of the same version are equal.
    return ProductFacts(
        id=row.id,
        version=int(row.version),
        sku=row.sku,
        name=row.name,
        brand=row.brand,
        description=row.description,
        price=Decimal(format_price(row.price, row.currency)),
        currency=str(row.currency).upper(),
        attributes=MappingProxyType(dict(row.attributes or {})),
        images=tuple(str(image) for image in row.images or ()),
        variant_count=int(row.variant_count),
    )
