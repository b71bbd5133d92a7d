"""The search read model in PostgreSQL: applies batches of document parts with per-part version guards."""

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Engine, TextClause, text

from catalog_indexer.domain.document import CorePart, DocumentPart, EnrichmentPart, MediaPart, Tombstone, fold

# Each statement takes the batch's parts of one kind as a JSON array (one round trip, any batch size), inserts the
# documents that are new and changes the others only when the incoming part is newer than the one held: duplicates
# and late events are no-ops, so replays converge to the same rows. Rows are written in product id order, so two
# writers of overlapping batches lock them in the same order and cannot deadlock.
#
# The search columns are derived here, from the row as it will be (EXCLUDED for the incoming part, d for the parts
# the row keeps), and `indexed_at` is set only when a guard lets the row change: it dates the last change;
# `core_indexed_at` / `enrichment_indexed_at` date the part's last change (lineage), from the same clock reading.
_CORE = text("""
WITH batch AS (
    SELECT * FROM jsonb_to_recordset(CAST(:parts AS jsonb)) AS r(
        product_id uuid, version bigint, sku text, skus text[], name text, brand text, description text,
        price numeric, price_text text, currency text, status text, created_at timestamptz, updated_at timestamptz)
), changed AS (
    INSERT INTO search.documents AS d
        (product_id, core_version, deleted, sku, skus, name, brand, description, price, price_text, currency, status,
         created_at, updated_at, document, fuzzy, indexed_at, core_indexed_at)
    SELECT product_id, version, false, sku, skus, name, brand, description, price, price_text, currency, status,
           created_at, updated_at, search.document_of(name, brand, '{}', NULL, description),
           search.fuzzy_of(name, brand), stamp, stamp
    FROM batch, clock_timestamp() AS stamp ORDER BY product_id
    ON CONFLICT (product_id) DO UPDATE SET
        core_version = EXCLUDED.core_version, deleted = false, sku = EXCLUDED.sku, skus = EXCLUDED.skus,
        name = EXCLUDED.name, brand = EXCLUDED.brand, description = EXCLUDED.description, price = EXCLUDED.price,
        price_text = EXCLUDED.price_text, currency = EXCLUDED.currency, status = EXCLUDED.status,
        created_at = EXCLUDED.created_at, updated_at = EXCLUDED.updated_at,
        document = search.document_of(EXCLUDED.name, EXCLUDED.brand, d.keywords, d.category, EXCLUDED.description),
        fuzzy = EXCLUDED.fuzzy, indexed_at = EXCLUDED.indexed_at, core_indexed_at = EXCLUDED.core_indexed_at
    WHERE d.core_version < EXCLUDED.core_version
    RETURNING d.product_id, d.fuzzy
), words AS (
    -- The name and brand words a typo is corrected against: once per batch, in word order (no deadlock between
    -- writers adding the same new words), existing words skipped by the conflict check.
    INSERT INTO search.lexicon (word)
    SELECT DISTINCT w FROM changed, regexp_split_to_table(changed.fuzzy, '[^[:alnum:]]+') AS w
    WHERE length(w) >= 3 ORDER BY w
    ON CONFLICT DO NOTHING
)
SELECT product_id FROM changed
""")

# A deletion keeps a tombstone row, so a late update of an older version cannot bring the product back; it
# outranks a core part of the same version (as `fold` does), whichever came first.
_TOMBSTONE = text("""
INSERT INTO search.documents AS d (product_id, core_version, deleted, indexed_at)
SELECT product_id, version, true, clock_timestamp()
FROM jsonb_to_recordset(CAST(:parts AS jsonb)) AS r(product_id uuid, version bigint) ORDER BY product_id
ON CONFLICT (product_id) DO UPDATE SET
    core_version = EXCLUDED.core_version, deleted = true, indexed_at = EXCLUDED.indexed_at
WHERE d.core_version < EXCLUDED.core_version OR (d.core_version = EXCLUDED.core_version AND NOT d.deleted)
RETURNING d.product_id
""")

_ENRICHMENT = text("""
INSERT INTO search.documents AS d
    (product_id, enrichment_version, enrichment_revision, enrichment_degraded, keywords, category, slug, price_band,
     completeness, document, indexed_at, enrichment_indexed_at)
SELECT product_id, version, revision, degraded, keywords, category, slug, price_band, completeness,
       search.document_of(NULL, NULL, keywords, category, NULL), stamp, stamp
FROM jsonb_to_recordset(CAST(:parts AS jsonb)) AS r(
    product_id uuid, version bigint, revision bigint, degraded boolean, keywords text[], category text, slug text,
    price_band text, completeness numeric),
    clock_timestamp() AS stamp
ORDER BY product_id
ON CONFLICT (product_id) DO UPDATE SET
    enrichment_version = EXCLUDED.enrichment_version, enrichment_revision = EXCLUDED.enrichment_revision,
    enrichment_degraded = EXCLUDED.enrichment_degraded, keywords = EXCLUDED.keywords, category = EXCLUDED.category,
    slug = EXCLUDED.slug, price_band = EXCLUDED.price_band, completeness = EXCLUDED.completeness,
    document = search.document_of(d.name, d.brand, EXCLUDED.keywords, EXCLUDED.category, d.description),
    indexed_at = EXCLUDED.indexed_at, enrichment_indexed_at = EXCLUDED.enrichment_indexed_at
WHERE (d.enrichment_version, d.enrichment_revision) < (EXCLUDED.enrichment_version, EXCLUDED.enrichment_revision)
RETURNING d.product_id
""")

# `<=`, unlike the other parts: a regeneration reprocesses the same core version into new derivatives (another
# size list), and it must replace what it regenerated. A repeated event writes the same values again.
_MEDIA = text("""
INSERT INTO search.documents AS d (product_id, media_version, thumbnail_url, indexed_at)
SELECT product_id, version, thumbnail_url, clock_timestamp()
FROM jsonb_to_recordset(CAST(:parts AS jsonb)) AS r(product_id uuid, version bigint, thumbnail_url text)
ORDER BY product_id
ON CONFLICT (product_id) DO UPDATE SET
    media_version = EXCLUDED.media_version, thumbnail_url = EXCLUDED.thumbnail_url, indexed_at = EXCLUDED.indexed_at
WHERE d.media_version <= EXCLUDED.media_version
RETURNING d.product_id
""")


class SearchDocuments:
    """Writes document parts: a batch is one transaction, whatever kinds of parts it holds."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def apply(self, part: DocumentPart) -> bool:
        """Apply `part` if it is newer than what the document holds; True if the document changed."""
        return self.apply_many([part]) == 1

    def apply_many(self, parts: Sequence[DocumentPart]) -> int:
        """Apply every part that is newer than what its document holds, all or nothing; how many documents changed.

        Parts of the same product and kind are folded first, so any mix of duplicates, reorderings and
        create-then-delete gives what applying the parts one by one would.
        """
        rows: dict[TextClause, list[dict[str, Any]]] = {_CORE: [], _TOMBSTONE: [], _ENRICHMENT: [], _MEDIA: []}
        for part in fold(parts):
            match part:
                case CorePart():
                    rows[_CORE].append({**vars(part), "skus": list(part.skus), "price": str(part.price)})
                case Tombstone():
                    rows[_TOMBSTONE].append(vars(part))
                case EnrichmentPart():
                    rows[_ENRICHMENT].append({**vars(part), "keywords": list(part.keywords)})
                case MediaPart():
                    rows[_MEDIA].append(vars(part))
        changed: set[str] = set()
        with self.engine.begin() as conn:
            for statement, batch in rows.items():
                if batch:
                    changed.update(_run(conn, statement, batch))
        return len(changed)


def _run(conn: Connection, statement: TextClause, batch: list[dict[str, Any]]) -> list[str]:
    return [str(pid) for pid in conn.execute(statement, {"parts": json.dumps(batch)}).scalars()]
