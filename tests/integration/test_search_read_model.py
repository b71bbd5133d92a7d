"""The search read model on the real PostgreSQL: version guards make duplicates and reordering harmless,
and search finds products by words, typos, SKUs and filters."""

import itertools
import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Engine, text

from catalog_indexer.adapters.read_model import SearchDocuments
from catalog_indexer.adapters.search import SearchResult, search
from catalog_indexer.domain.document import CorePart, EnrichmentPart, Tombstone, part_of
from catalog_indexer.domain.search_query import SearchQuery


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


def run(engine: Engine, **query: Any) -> SearchResult:
    with engine.connect() as conn:
        return search(conn, SearchQuery(**{"text": None, **query}), fuzzy_threshold=0.4)


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


def test_enrichment_never_touches_core_fields(engine: Engine, documents: SearchDocuments, unique: str) -> None:
    pid = str(uuid.uuid4())
    documents.apply(CorePart.from_snapshot(snapshot(pid, 3, unique)))
    assert documents.apply(EnrichmentPart.from_event(enriched(pid, 1, ["old"]))) is True
    doc = document(engine, pid)
    assert doc["core_version"] == 3
    assert doc["name"] == f"Linen shirt {unique}"
    [hit] = run(engine, text=f"SKU-{unique}").hits
    assert hit.enrichment_status == "pending"  # computed from version 1, the core is at 3
    documents.apply(EnrichmentPart.from_event(enriched(pid, 3, ["new"])))
    [hit] = run(engine, text=f"SKU-{unique}").hits
    assert hit.enrichment_status == "complete"


def test_a_deleted_product_stays_deleted_whatever_arrives_late(
    engine: Engine, documents: SearchDocuments, unique: str
) -> None:
    pid = str(uuid.uuid4())
    documents.apply(CorePart.from_snapshot(snapshot(pid, 1, unique)))
    documents.apply(Tombstone(pid, 3))
    assert documents.apply(CorePart.from_snapshot(snapshot(pid, 2, unique))) is False
    assert run(engine, text=f"SKU-{unique}").total == 0


def test_search_finds_words_typos_skus_and_filters(engine: Engine, documents: SearchDocuments, unique: str) -> None:
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

    assert [h.id for h in run(engine, text=f"cashmere {unique}").hits] == [pids[0]]  # the draft is not active
    assert [h.id for h in run(engine, text=f"cahsmere {unique}").hits] == [pids[0]]  # swapped letters
    assert [h.id for h in run(engine, text=f"cashmre {unique}").hits] == [pids[0]]  # a missing letter
    assert [h.id for h in run(engine, text=f"creme brulee {unique}").hits] == [pids[1]]  # accents folded
    assert [h.id for h in run(engine, text=f"kwd{unique[::-1]}").hits] == [pids[0]]  # an enrichment keyword
    assert run(engine, text=f"var-{unique}c-m", status=None).hits[0].id == pids[2]  # a variant SKU ranks first
    by_brand = run(engine, brand=brand, status=None, sort="price_asc")
    assert [h.id for h in by_brand.hits] == [pids[1], pids[2], pids[0]]
    assert by_brand.facets["brand"] == [{"value": brand, "count": 3}]
    assert [
        h.id for h in run(engine, brand=brand, price_min=Decimal(50), price_max=Decimal(100), status=None).hits
    ] == [pids[2]]
    hit = run(engine, text=f"cashmere {unique}").hits[0]
    assert "<mark>cashmere</mark>" in hit.highlight["name"].lower()
    assert hit.enrichment_status == "complete"
    assert hit.price == "120.00"
