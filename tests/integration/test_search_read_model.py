"""The search read model on the real PostgreSQL: version guards make duplicates and reordering harmless;
the search index follows it and finds products by words, typos, SKUs and filters."""

import asyncio
import itertools
import uuid
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text

from catalog_indexer.adapters.read_model import SearchDocuments
from catalog_indexer.adapters.search_index import IndexGenerations, SearchIndex, SearchResult
from catalog_indexer.domain.document import CorePart, EnrichmentPart, Tombstone, part_of
from catalog_indexer.domain.search_query import SearchQuery
from catalog_indexer.service_layer.index_follower import IndexFollower
from catalog_indexer.service_layer.indexing import Indexer
from catalog_kit.envelope import EventEnvelope
from catalog_stream.processor import PermanentFailure


def snapshot(pid: str, version: int, unique: str, **changes: Any) -> dict[str, Any]:
    return {
        "id": pid,
        "sku": f"SKU-{unique}",
        "name": f"Linen shirt {unique}",
        "brand": f"Brand{unique}",
        "description": "A breathable summer shirt",
        "price": "49.90",
        "currency": "EUR",
        "stock": 1,
        "attributes": {},
        "images": [],
        "status": "active",
        "variants": [
            {"id": str(uuid.uuid4()), "sku": f"VAR-{unique}-M", "options": {"size": "M"}, "price": None, "stock": 1}
        ],
        "version": version,
        "created_at": "2026-11-01T10:00:00+00:00",
        "updated_at": "2026-11-01T10:00:00+00:00",
        **changes,
    }


def enriched(pid: str, version: int, keywords: list[str]) -> dict[str, Any]:
    return {
        "id": pid,
        "version": version,
        "keywords": keywords,
        "slug": "linen-shirt",
        "category": "apparel/tops/shirts",
        "price_band": "mid",
        "completeness": {"score": 0.8, "missing": []},
    }


@pytest.fixture
def documents(engine: Engine) -> SearchDocuments:
    return SearchDocuments(engine)


def document(engine: Engine, pid: str) -> dict[str, Any]:
    with engine.connect() as conn:
        row = (
            conn.execute(
                text("""SELECT core_version, deleted, name, price, enrichment_version, keywords, category
                                   FROM search.documents WHERE product_id = :id"""),
                {"id": pid},
            )
            .mappings()
            .one()
        )
    return dict(row)


class IndexedSearch:
    """The search index of the read model, caught up before every query (what the indexer's follower does)."""

    def __init__(self, engine: Engine, root: Path) -> None:
        self.follower = IndexFollower(SearchDocuments(engine), IndexGenerations(root))
        self.index = SearchIndex(root)

    def run(self, **query: Any) -> SearchResult:
        self.follower.catch_up()
        return self.index.search(SearchQuery(**{"text": None, **query}))


@pytest.fixture(scope="module")
def searched(engine: Engine, tmp_path_factory: pytest.TempPathFactory) -> IndexedSearch:
    return IndexedSearch(engine, tmp_path_factory.mktemp("search-index"))


def test_every_order_of_the_same_events_gives_the_same_document(
    engine: Engine, documents: SearchDocuments, unique: str
) -> None:
    events: list[tuple[str, Callable[[str], dict[str, Any]]]] = [
        ("product.created", lambda pid: snapshot(pid, 1, unique)),
        ("product.updated", lambda pid: snapshot(pid, 2, unique, name=f"Linen shirt v2 {unique}", price="39.90")),
        ("product.enriched", lambda pid: enriched(pid, 1, ["linen", "shirt"])),
        ("product.enriched", lambda pid: enriched(pid, 2, ["linen", "shirt", "summer"])),
    ]
    results = []
    for order in itertools.permutations(events):
        pid = str(uuid.uuid4())
        for event_type, data in [*order, *order]:  # every event twice: duplicates are normal
            part = part_of(event_type, data(pid))
            assert part is not None
            documents.apply(part)
        results.append(document(engine, pid))
    assert all(r == results[0] for r in results)
    assert results[0]["core_version"] == 2
    assert results[0]["name"] == f"Linen shirt v2 {unique}"
    assert results[0]["price"] == Decimal("39.90")
    assert results[0]["enrichment_version"] == 2
    assert results[0]["keywords"] == ["linen", "shirt", "summer"]


def test_enrichment_never_touches_core_fields(
    engine: Engine, documents: SearchDocuments, unique: str, searched: IndexedSearch
) -> None:
    pid = str(uuid.uuid4())
    documents.apply(CorePart.from_snapshot(snapshot(pid, 3, unique)))
    assert documents.apply(EnrichmentPart.from_event(enriched(pid, 1, ["old"]))) is True
    doc = document(engine, pid)
    assert doc["core_version"] == 3
    assert doc["name"] == f"Linen shirt {unique}"
    [hit] = searched.run(text=f"SKU-{unique}").hits
    assert hit.enrichment_status == "pending"  # computed from version 1, the core is at 3
    documents.apply(EnrichmentPart.from_event(enriched(pid, 3, ["new"])))
    [hit] = searched.run(text=f"SKU-{unique}").hits
    assert hit.enrichment_status == "complete"


def test_a_complete_enrichment_replaces_a_degraded_one_of_the_same_version_and_never_the_reverse(
    engine: Engine, documents: SearchDocuments, unique: str, searched: IndexedSearch
) -> None:
    pid = str(uuid.uuid4())
    documents.apply(CorePart.from_snapshot(snapshot(pid, 2, unique)))
    degraded = {**enriched(pid, 2, ["local"]), "revision": 1, "degraded": ["keywords"]}
    complete = {**enriched(pid, 2, ["local", "from-provider"]), "revision": 2}
    assert documents.apply(EnrichmentPart.from_event(degraded)) is True
    [hit] = searched.run(text=f"SKU-{unique}").hits
    assert hit.enrichment_status == "degraded"

    assert documents.apply(EnrichmentPart.from_event(complete)) is True  # same version, higher revision
    assert documents.apply(EnrichmentPart.from_event(degraded)) is False  # redelivered late: older
    assert documents.apply(EnrichmentPart.from_event(enriched(pid, 2, ["no-revision"]))) is False
    assert document(engine, pid)["keywords"] == ["local", "from-provider"]
    [hit] = searched.run(text=f"SKU-{unique}").hits
    assert hit.enrichment_status == "complete"


def test_a_deleted_product_stays_deleted_whatever_arrives_late(
    engine: Engine, documents: SearchDocuments, unique: str, searched: IndexedSearch
) -> None:
    pid = str(uuid.uuid4())
    documents.apply(CorePart.from_snapshot(snapshot(pid, 1, unique)))
    documents.apply(Tombstone(pid, 3))
    assert documents.apply(CorePart.from_snapshot(snapshot(pid, 2, unique))) is False
    assert searched.run(text=f"SKU-{unique}").total == 0


def test_search_finds_words_typos_skus_and_filters(
    engine: Engine, documents: SearchDocuments, unique: str, searched: IndexedSearch
) -> None:
    pids = [str(uuid.uuid4()) for _ in range(3)]
    brand = f"Zephyrine{unique[:4]}"
    documents.apply(
        CorePart.from_snapshot(
            snapshot(pids[0], 1, unique, name=f"Cashmere sweater {unique}", brand=brand, price="120.00")
        )
    )
    documents.apply(
        CorePart.from_snapshot(
            snapshot(pids[1], 1, f"{unique}b", name=f"Crème brûlée torch {unique}", brand=brand, price="35.00")
        )
    )
    documents.apply(
        CorePart.from_snapshot(
            snapshot(
                pids[2], 1, f"{unique}c", name=f"Cashmere scarf {unique}", brand=brand, price="80.00", status="draft"
            )
        )
    )
    documents.apply(EnrichmentPart.from_event(enriched(pids[0], 1, ["knitwear", f"kwd{unique[::-1]}"])))

    def best(text: str) -> list[str]:
        """The ids matching every word of `text`: those ranked above any that matches fewer words."""
        hits = searched.run(text=text).hits
        words = len(text.split())
        return [h.id for h in hits if h.score is not None and h.score >= 100 * words]

    assert best(f"cashmere {unique}") == [pids[0]]  # the draft is not active
    assert best(f"cahsmere {unique}") == [pids[0]]  # swapped letters
    assert best(f"cashmre {unique}") == [pids[0]]  # a missing letter
    assert best(f"creme brulee {unique}") == [pids[1]]  # accents folded
    assert best(f"kwd{unique[::-1]}") == [pids[0]]  # an enrichment keyword
    assert searched.run(text=f"var-{unique}c-m", status=None).hits[0].id == pids[2]  # a variant SKU ranks first
    by_brand = searched.run(brand=brand, status=None, sort="price_asc")
    assert [h.id for h in by_brand.hits] == [pids[1], pids[2], pids[0]]
    assert by_brand.facets["brand"] == [{"value": brand, "count": 3}]
    assert [
        h.id for h in searched.run(brand=brand, price_min=Decimal(50), price_max=Decimal(100), status=None).hits
    ] == [pids[2]]
    hit = searched.run(text=f"cashmere {unique}").hits[0]
    assert "<mark>cashmere</mark>" in hit.highlight["name"].lower()
    assert hit.enrichment_status == "complete"
    assert hit.price == "120.00"


def indexed_at(engine: Engine, pids: list[str]) -> dict[str, Any]:
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT product_id::text, indexed_at FROM search.documents WHERE product_id = ANY(CAST(:ids AS uuid[]))"
            ),
            {"ids": pids},
        )
        return {pid: at for pid, at in rows}


def test_a_batch_gives_what_its_parts_give_one_by_one(engine: Engine, documents: SearchDocuments, unique: str) -> None:
    one_by_one, batched = str(uuid.uuid4()), str(uuid.uuid4())
    events: list[tuple[str, Callable[[str], dict[str, Any]]]] = [
        ("product.updated", lambda pid: snapshot(pid, 3, unique, name=f"Linen shirt v3 {unique}", price="29.90")),
        ("product.enriched", lambda pid: enriched(pid, 2, ["linen", "v2"])),
        ("product.created", lambda pid: snapshot(pid, 1, unique)),
        ("product.enriched", lambda pid: enriched(pid, 3, ["linen", "v3"])),
        ("product.updated", lambda pid: snapshot(pid, 2, unique, name=f"Linen shirt v2 {unique}")),
        ("product.enriched", lambda pid: enriched(pid, 1, ["linen", "v1"])),
    ]
    for event_type, data in events:
        part = part_of(event_type, data(one_by_one))
        assert part is not None
        documents.apply(part)
    parts = [part_of(event_type, data(batched)) for event_type, data in [*events, *events]]  # duplicates too
    assert documents.apply_many([p for p in parts if p is not None]) == 1
    assert document(engine, batched) == document(engine, one_by_one)
    assert document(engine, batched)["core_version"] == 3
    assert document(engine, batched)["keywords"] == ["linen", "v3"]


def test_created_and_deleted_in_one_batch_stays_deleted(
    engine: Engine, documents: SearchDocuments, unique: str, searched: IndexedSearch
) -> None:
    pids = [str(uuid.uuid4()) for _ in range(2)]
    created = [CorePart.from_snapshot(snapshot(pid, 1, f"{unique}{i}")) for i, pid in enumerate(pids)]
    documents.apply_many([created[0], Tombstone(pids[0], 2), Tombstone(pids[1], 2), created[1]])
    assert [document(engine, pid)["deleted"] for pid in pids] == [True, True]
    assert searched.run(text=f"SKU-{unique}0").total == 0
    assert searched.run(text=f"SKU-{unique}1").total == 0
    assert documents.apply_many([CorePart.from_snapshot(snapshot(pids[0], 3, f"{unique}0"))]) == 1  # re-created
    assert searched.run(text=f"SKU-{unique}0").hits[0].id == pids[0]


def test_reapplying_a_batch_changes_nothing_and_search_finds_it(
    engine: Engine, documents: SearchDocuments, unique: str, searched: IndexedSearch
) -> None:
    brand = f"Quorvantis{unique[:5]}"
    pids = [str(uuid.uuid4()) for _ in range(50)]
    batch = [
        part
        for i, pid in enumerate(pids)
        for part in (
            CorePart.from_snapshot(snapshot(pid, 1, f"{unique}-{i}", name=f"Merino cardigan {i}", brand=brand)),
            EnrichmentPart.from_event(enriched(pid, 1, ["knitwear", f"kw{unique}"])),
        )
    ]
    assert documents.apply_many(batch) == 50
    written = indexed_at(engine, pids)
    assert documents.apply_many(batch) == 0
    assert documents.apply_many(list(reversed(batch))) == 0
    assert indexed_at(engine, pids) == written  # nothing was rewritten

    assert searched.run(brand=brand).total == 50
    assert searched.run(text=f"kw{unique}").total == 50  # enrichment keywords are in the full text
    assert searched.run(text=brand.lower()[:4] + brand.lower()[5] + brand.lower()[4] + brand.lower()[6:]).total == 50
    assert searched.run(text=f"merino cardigan 7 {brand}").hits[0].id == pids[7]
    assert searched.run(text=f"SKU-{unique}-7").hits[0].id == pids[7]
    hit = searched.run(text=f"VAR-{unique}-7-M").hits[0]
    assert hit.id == pids[7]
    assert hit.enrichment_status == "complete"


def test_an_enrichment_before_its_product_is_kept_and_searchable_once_the_product_comes(
    engine: Engine, documents: SearchDocuments, unique: str, searched: IndexedSearch
) -> None:
    pid = str(uuid.uuid4())
    documents.apply_many([EnrichmentPart.from_event(enriched(pid, 1, [f"early{unique}"]))])
    assert searched.run(text=f"early{unique}").total == 0  # no core part yet: not a product
    documents.apply_many([CorePart.from_snapshot(snapshot(pid, 1, unique))])
    hit = searched.run(text=f"early{unique} linen").hits[0]
    assert hit.id == pid
    assert hit.enrichment_status == "complete"


def test_a_batch_with_a_broken_event_fails_whole_and_writes_nothing(
    engine: Engine, documents: SearchDocuments, unique: str, searched: IndexedSearch
) -> None:
    good, bad = str(uuid.uuid4()), str(uuid.uuid4())
    events = [
        EventEnvelope(type="product.created", source="test", subject=good, data=snapshot(good, 1, unique)),
        EventEnvelope(
            type="product.created", source="test", subject=bad, data={**snapshot(bad, 1, unique), "price": None}
        ),
    ]
    with pytest.raises(PermanentFailure):
        asyncio.run(Indexer(documents).handle_batch(events))
    assert indexed_at(engine, [good, bad]) == {}
    asyncio.run(Indexer(documents).handle_batch(events[:1]))  # the runtime's retry of the good record alone
    assert searched.run(text=f"SKU-{unique}").hits[0].id == good
