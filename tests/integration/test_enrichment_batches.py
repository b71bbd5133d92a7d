"""The enricher in batches, on a real database: one guarded transaction per batch, outcomes per product, outbox rows
in the lane of the events they derive from, and a batch that can be applied again."""

import asyncio
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import create_engine, select, text
from sqlalchemy.orm import Session, sessionmaker

from catalog_core.domain.products import ProductDraft
from catalog_core.service_layer.catalog import ProductCatalog
from catalog_enricher.adapters.catalog_store import EnrichmentStore, SaveOutcome
from catalog_enricher.adapters.provider import LocalProvider, ResilientProvider
from catalog_enricher.domain.facts import ProductFacts
from catalog_enricher.domain.rules import enrich
from catalog_enricher.domain.taxonomy import Taxonomy
from catalog_enricher.service_layer.enrichment import Enricher
from catalog_kit.envelope import EventEnvelope
from catalog_kit.outbox import LANE_RANK, OutboxWriter, outbox
from catalog_schemas import Lane, topic_for, validate_event

TAXONOMY = Taxonomy.default()


@pytest.fixture
def db(fresh_database: str) -> Iterator[sessionmaker[Session]]:
    engine = create_engine(fresh_database)
    yield sessionmaker(engine)
    engine.dispose()


def catalog(session: Session) -> ProductCatalog:
    return ProductCatalog(session, OutboxWriter("/test"))


def create(db: sessionmaker[Session], name: str) -> dict[str, Any]:
    """A new product; returns the snapshot its product.created carries."""
    with db() as session, session.begin():
        draft = ProductDraft.model_validate(
            {"sku": f"EB-{uuid.uuid4().hex[:10]}", "name": name, "brand": "Acme", "price": "19.90", "currency": "EUR"}
        )
        _, snapshot = catalog(session).create(draft)
        return snapshot


def rename(db: sessionmaker[Session], product_id: str, name: str) -> dict[str, Any]:
    """A new version of the product; returns the snapshot its product.updated carries."""
    with db() as session, session.begin():
        return catalog(session).patch(uuid.UUID(product_id), {"name": name}, None).snapshot()


def delete(db: sessionmaker[Session], product_id: str) -> None:
    with db() as session, session.begin():
        catalog(session).delete(uuid.UUID(product_id), None)


def event(snapshot: dict[str, Any], lane: Lane = Lane.BULK, event_type: str | None = None) -> EventEnvelope:
    kind = event_type or ("product.created" if snapshot["version"] == 1 else "product.updated")
    return EventEnvelope(type=kind, source="/test", subject=snapshot["id"], data=snapshot, lane=lane)


def result(snapshot: dict[str, Any]) -> Any:
    return enrich(ProductFacts.from_snapshot(snapshot), TAXONOMY)


def enriched_events(db: sessionmaker[Session]) -> list[tuple[str, int, str, int]]:
    """(product id, version, topic, lane rank) of every product.enriched in the outbox, in outbox order."""
    with db() as session:
        rows = session.execute(
            select(outbox.c.aggregate_id, outbox.c.payload, outbox.c.topic, outbox.c.lane, outbox.c.headers)
            .where(outbox.c.event_type == "product.enriched")
            .order_by(outbox.c.id)
        ).all()
    for row in rows:
        validate_event("product.enriched", row.payload)
        assert row.headers["ce_lane"] == (Lane.BULK if row.lane == LANE_RANK[Lane.BULK] else Lane.INTERACTIVE)
    return [(row.aggregate_id, row.payload["version"], row.topic, row.lane) for row in rows]


def stored(db: sessionmaker[Session]) -> dict[str, tuple[int, str]]:
    """Stored enrichments: product id -> (computed from version, slug)."""
    with db() as session:
        rows = session.execute(text("SELECT product_id::text, computed_from_version, slug FROM product_enrichment"))
        return {row[0]: (row[1], row[2]) for row in rows}


def enricher(db: sessionmaker[Session]) -> Enricher:
    store = EnrichmentStore(db, OutboxWriter("/catalog/enricher"))
    return Enricher(store=store, provider=ResilientProvider(LocalProvider()), taxonomy=TAXONOMY)


def test_save_many_gives_each_result_its_outcome_and_queues_events_in_the_lane_asked(
    db: sessionmaker[Session],
) -> None:
    store = EnrichmentStore(db, OutboxWriter("/catalog/enricher"))
    current = create(db, "Linen tee")
    stale = create(db, "Wool sweater")
    rename(db, stale["id"], "Merino wool sweater")
    already = create(db, "Canvas sneakers")
    assert store.save_many([result(already)], Lane.INTERACTIVE) == [SaveOutcome.SAVED]
    gone = create(db, "Cast iron skillet")
    delete(db, gone["id"])

    outcomes = store.save_many([result(s) for s in (current, stale, already, gone)], Lane.BULK)

    assert outcomes == [SaveOutcome.SAVED, SaveOutcome.STALE, SaveOutcome.UNCHANGED, SaveOutcome.GONE]
    assert stored(db) == {current["id"]: (1, "acme-linen-tee"), already["id"]: (1, "acme-canvas-sneakers")}
    bulk = topic_for("product.enriched", Lane.BULK).name
    interactive = topic_for("product.enriched", Lane.INTERACTIVE).name
    assert enriched_events(db) == [
        (already["id"], 1, interactive, LANE_RANK[Lane.INTERACTIVE]),
        (current["id"], 1, bulk, LANE_RANK[Lane.BULK]),
    ]


def test_save_many_never_replaces_a_fresher_stored_result(db: sessionmaker[Session]) -> None:
    store = EnrichmentStore(db, OutboxWriter("/catalog/enricher"))
    first = create(db, "Linen tee")
    second = rename(db, first["id"], "Linen tee relaxed")
    assert store.save_many([result(second)], Lane.BULK) == [SaveOutcome.SAVED]
    # The version 1 result is both stale and older than what is stored: nothing changes.
    assert store.save_many([result(first)], Lane.BULK) == [SaveOutcome.STALE]
    assert stored(db) == {first["id"]: (2, "acme-linen-tee-relaxed")}
    assert [version for _, version, _, _ in enriched_events(db)] == [2]


def test_a_batch_with_two_versions_of_a_product_stores_the_newest_once(db: sessionmaker[Session]) -> None:
    first = create(db, "Linen tee")
    second = rename(db, first["id"], "Linen tee relaxed")
    other = create(db, "Denim jacket")

    outcomes = asyncio.run(enricher(db).handle_batch([event(first), event(other), event(second)]))

    assert outcomes == [SaveOutcome.SAVED, SaveOutcome.SAVED]  # one per product, in order of first appearance
    assert stored(db) == {first["id"]: (2, "acme-linen-tee-relaxed"), other["id"]: (1, "acme-denim-jacket")}
    assert [(pid, version) for pid, version, _, _ in enriched_events(db)] == [(first["id"], 2), (other["id"], 1)]


def test_applying_a_batch_again_stores_nothing_new(db: sessionmaker[Session]) -> None:
    products = [create(db, f"Linen tee {n}") for n in range(5)]
    batch = [event(p) for p in products] + [event(products[0], event_type="product.deleted")]
    worker = enricher(db)

    assert asyncio.run(worker.handle_batch(batch)) == [SaveOutcome.SAVED] * 5
    before = enriched_events(db)
    assert asyncio.run(worker.handle_batch(batch)) == [SaveOutcome.UNCHANGED] * 5

    assert enriched_events(db) == before
    assert len(before) == 5


def test_stale_events_are_recomputed_from_the_current_version_and_deleted_products_are_gone(
    db: sessionmaker[Session],
) -> None:
    changed = create(db, "Wool sweater")
    rename(db, changed["id"], "Merino wool sweater")
    gone = create(db, "Cast iron skillet")
    delete(db, gone["id"])
    fine = create(db, "Linen tee")

    outcomes = asyncio.run(enricher(db).handle_batch([event(changed), event(gone), event(fine)]))

    assert outcomes == [SaveOutcome.SAVED, SaveOutcome.GONE, SaveOutcome.SAVED]
    assert stored(db) == {changed["id"]: (2, "acme-merino-wool-sweater"), fine["id"]: (1, "acme-linen-tee")}


def test_interactive_events_are_enriched_in_the_interactive_lane(db: sessionmaker[Session]) -> None:
    product = create(db, "Linen tee")
    assert asyncio.run(enricher(db).handle(event(product, Lane.INTERACTIVE))) is SaveOutcome.SAVED
    assert enriched_events(db) == [(product["id"], 1, topic_for("product.enriched").name, LANE_RANK[Lane.INTERACTIVE])]
    assert asyncio.run(enricher(db).handle(event(product, event_type="product.deleted"))) is None
