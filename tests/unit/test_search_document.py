"""Pure rules of the search read model and of stream processing."""

from decimal import Decimal

import pytest

from catalog_indexer.domain.document import (
    CorePart,
    DocumentPart,
    EnrichmentPart,
    MediaPart,
    Tombstone,
    enrichment_status,
    fold,
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
    revised = part_of("product.enriched", {**enriched, "revision": 4, "degraded": ["keywords"]})
    assert revised == EnrichmentPart("p-1", 3, ("tee",), None, "tee", "budget", 0.4, revision=4, degraded=True)
    media = {"id": "p-1", "version": 2, "thumbnail_url": "http://m/t.webp", "images": []}
    assert part_of("product.media_processed", media) == MediaPart("p-1", 2, "http://m/t.webp")
    assert part_of("product.exploded", {}) is None


@pytest.mark.parametrize(
    ("core", "enrichment", "status"),
    [(1, 0, "pending"), (2, 1, "pending"), (2, 2, "complete"), (2, 3, "complete"), (0, 1, "pending")],
)
def test_enrichment_is_complete_only_for_the_current_core_version(core: int, enrichment: int, status: str) -> None:
    assert enrichment_status(core, enrichment) == status


def test_a_degraded_enrichment_of_the_current_version_is_degraded_not_complete() -> None:
    assert enrichment_status(2, 2, degraded=True) == "degraded"
    assert enrichment_status(3, 2, degraded=True) == "pending"  # an older version's result: pending either way


def test_relevance_without_words_sorts_newest_first() -> None:
    assert SearchQuery(text=None).effective_sort == "newest"
    assert SearchQuery(text="tee").effective_sort == "relevance"
    assert SearchQuery(text="tee", sort="price_asc").effective_sort == "price_asc"
    assert SearchQuery(text=None, page=3, limit=20).offset == 40


def core(version: int, pid: str = "p-1", name: str = "Tee") -> CorePart:
    return CorePart.from_snapshot({**SNAPSHOT, "id": pid, "version": version, "name": name})


def enrichment(version: int, pid: str = "p-1", revision: int = 0) -> EnrichmentPart:
    return EnrichmentPart(pid, version, ("tee",), None, "tee", "budget", 0.4, revision=revision)


def test_fold_keeps_the_highest_version_per_product_and_kind() -> None:
    folded = fold([core(2), enrichment(1), core(3), core(1), enrichment(3), enrichment(2), core(1, pid="p-2")])
    assert folded == [core(3), core(1, pid="p-2"), enrichment(3)]


def test_fold_orders_enrichments_of_one_version_by_revision_whatever_order_they_came_in() -> None:
    # A complete result that replaced a degraded one (revision 2), then the degraded one redelivered.
    assert fold([enrichment(3, revision=2), enrichment(3, revision=1)]) == [enrichment(3, revision=2)]
    assert fold([enrichment(3, revision=1), enrichment(3, revision=2)]) == [enrichment(3, revision=2)]
    assert fold([enrichment(4, revision=1), enrichment(3, revision=9)]) == [enrichment(4, revision=1)]


def test_fold_keeps_the_first_of_equal_versions_as_the_guards_do_but_the_last_media() -> None:
    assert fold([core(2, name="first"), core(2, name="second")]) == [core(2, name="first")]
    assert fold([MediaPart("p-1", 2, "a"), MediaPart("p-1", 2, "b"), MediaPart("p-1", 1, "c")]) == [
        MediaPart("p-1", 2, "b")
    ]


@pytest.mark.parametrize(
    ("parts", "kept"),
    [
        ([core(1), Tombstone("p-1", 2)], Tombstone("p-1", 2)),  # created then deleted in one batch
        ([Tombstone("p-1", 2), core(1)], Tombstone("p-1", 2)),  # a late update after the deletion
        ([core(2), Tombstone("p-1", 2)], Tombstone("p-1", 2)),  # a tombstone outranks an equal core version
        ([Tombstone("p-1", 2), core(2)], Tombstone("p-1", 2)),
        ([Tombstone("p-1", 2), core(3)], core(3)),  # a newer core part wins over an older deletion
    ],
)
def test_fold_ranks_tombstones_over_core_parts_of_equal_or_lower_versions(
    parts: list[DocumentPart], kept: DocumentPart
) -> None:
    assert fold(parts) == [kept]


def test_fold_treats_differently_spelt_ids_as_one_product() -> None:
    upper = "0F8A5E2C-1B7D-4C3E-9A6F-2D4B8C1E7F00"
    assert fold([enrichment(1, pid=upper), enrichment(2, pid=upper.lower())]) == [enrichment(2, pid=upper.lower())]
