"""The search read model in PostgreSQL: applies document parts with per-part version guards."""

from sqlalchemy import Engine, text

from catalog_indexer.domain.document import CorePart, DocumentPart, EnrichmentPart, MediaPart, Tombstone

# Each statement inserts the document if it is new and otherwise changes it only when the incoming part is
# newer than the one held: duplicates and late events are no-ops, so replays converge to the same rows.
_CORE = text("""
INSERT INTO search.documents AS d
    (product_id, core_version, deleted, sku, skus, name, brand, description, price, price_text, currency, status,
     created_at, updated_at)
VALUES (:product_id, :version, false, :sku, :skus, :name, :brand, :description, :price, :price_text, :currency,
        :status, :created_at, :updated_at)
ON CONFLICT (product_id) DO UPDATE SET
    core_version = EXCLUDED.core_version, deleted = false, sku = EXCLUDED.sku, skus = EXCLUDED.skus,
    name = EXCLUDED.name, brand = EXCLUDED.brand, description = EXCLUDED.description, price = EXCLUDED.price,
    price_text = EXCLUDED.price_text, currency = EXCLUDED.currency, status = EXCLUDED.status,
    created_at = EXCLUDED.created_at, updated_at = EXCLUDED.updated_at
WHERE d.core_version < EXCLUDED.core_version
""")

# A deletion keeps a tombstone row, so a late update of an older version cannot bring the product back.
_TOMBSTONE = text("""
INSERT INTO search.documents AS d (product_id, core_version, deleted) VALUES (:product_id, :version, true)
ON CONFLICT (product_id) DO UPDATE SET core_version = EXCLUDED.core_version, deleted = true
WHERE d.core_version < EXCLUDED.core_version
""")

_ENRICHMENT = text("""
INSERT INTO search.documents AS d
    (product_id, enrichment_version, keywords, category, slug, price_band, completeness)
VALUES (:product_id, :version, :keywords, :category, :slug, :price_band, :completeness)
ON CONFLICT (product_id) DO UPDATE SET
    enrichment_version = EXCLUDED.enrichment_version, keywords = EXCLUDED.keywords, category = EXCLUDED.category,
    slug = EXCLUDED.slug, price_band = EXCLUDED.price_band, completeness = EXCLUDED.completeness
WHERE d.enrichment_version < EXCLUDED.enrichment_version
""")


# `<=`, unlike the other parts: a regeneration reprocesses the same core version into new derivatives (another
# size list), and it must replace what it regenerated. A repeated event writes the same values again.
_MEDIA = text("""
INSERT INTO search.documents AS d (product_id, media_version, thumbnail_url)
VALUES (:product_id, :version, :thumbnail_url)
ON CONFLICT (product_id) DO UPDATE SET media_version = EXCLUDED.media_version, thumbnail_url = EXCLUDED.thumbnail_url
WHERE d.media_version <= EXCLUDED.media_version
""")


class SearchDocuments:
    """Writes document parts; each call is one short transaction."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def apply(self, part: DocumentPart) -> bool:
        """Apply `part` if it is newer than what the document holds; True if the document changed."""
        match part:
            case CorePart():
                statement, params = _CORE, {**vars(part), "skus": list(part.skus)}
            case Tombstone():
                statement, params = _TOMBSTONE, vars(part)
            case EnrichmentPart():
                statement, params = _ENRICHMENT, {**vars(part), "keywords": list(part.keywords)}
            case MediaPart():
                statement, params = _MEDIA, vars(part)
        with self.engine.begin() as conn:
            return conn.execute(statement, params).rowcount == 1
