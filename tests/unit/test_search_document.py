"""Pure rules of the search read model and of stream processing."""

from decimal import Decimal

import pytest

from catalog_indexer.domain.document import (
    CorePart,
    EnrichmentPart,
    MediaPart,
    Tombstone,
    enrichment_status,
    part_of,
)
from catalog_indexer.domain.search_query import SearchQuery

SNAPSHOT = {
    "id": "p-1",
    "sku": "TEE-1",
    "name": "Tee",
    "brand": None,
    "description": None,
    "price": "19.90",
    "currency": "EUR",
    "status": "active",
    "version": 3,
    "created_at": "2026-01-01T00:00:00+00:00",
    "updated_at": "2026-01-02T00:00:00+00:00",
    "variants": [{"sku": "Tee-1-S"}, {"sku": "TEE-1-M"}, {"sku": "tee-1"}],
}


def test_core_part_collects_every_sku_lower_cased_once() -> None:
    part = CorePart.from_snapshot(SNAPSHOT)
    assert part.skus == ("tee-1", "tee-1-s", "tee-1-m")
    assert part.price == Decimal("19.90")
    assert part.price_text == "19.90"


def test_event_types_map_to_parts() -> None:
    assert isinstance(part_of("product.created", SNAPSHOT), CorePart)
    assert isinstance(part_of("product.deleted", {"id": "p-1", "version": 4}), Tombstone)
    enriched = {
        "id": "p-1",
        "version": 3,
        "keywords": ["tee"],
        "slug": "tee",
        "category": None,
        "price_band": "budget",
        "completeness": {"score": 0.4, "missing": ["brand"]},
    }
    assert part_of("product.enriched", enriched) == EnrichmentPart("p-1", 3, ("tee",), None, "tee", "budget", 0.4)
    media = {"id": "p-1", "version": 2, "thumbnail_url": "http://m/t.webp", "images": []}
    assert part_of("product.media_processed", media) == MediaPart("p-1", 2, "http://m/t.webp")
    assert part_of("product.exploded", {}) is None


@pytest.mark.parametrize(
    ("core", "enrichment", "status"),
    [(1, 0, "pending"), (2, 1, "pending"), (2, 2, "complete"), (2, 3, "complete"), (0, 1, "pending")],
)
def test_enrichment_is_complete_only_for_the_current_core_version(core: int, enrichment: int, status: str) -> None:
    assert enrichment_status(core, enrichment) == status


def test_relevance_without_words_sorts_newest_first() -> None:
    assert SearchQuery(text=None).effective_sort == "newest"
    assert SearchQuery(text="tee").effective_sort == "relevance"
    assert SearchQuery(text="tee", sort="price_asc").effective_sort == "price_asc"
    assert SearchQuery(text=None, page=3, limit=20).offset == 40
