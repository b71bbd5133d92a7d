"""Reconciliation heals what lost events left behind: it compares the catalog, the enrichment table and the read
model in a database of its own, and announces again exactly what is missing or behind."""

import asyncio
import uuid

from sqlalchemy import create_engine, select, text
from sqlalchemy.orm import Session, sessionmaker

from catalog_core.domain.products import ProductDraft
from catalog_core.service_layer.catalog import ProductCatalog
from catalog_enricher.adapters.pipeline_gaps import PipelineGaps
from catalog_enricher.service_layer.reconciliation import START, Reconciler
from catalog_kit.outbox import OutboxWriter, outbox
from catalog_schemas import validate_event


def create(sessions: sessionmaker[Session], name: str) -> uuid.UUID:
    with sessions() as session, session.begin():
        draft = ProductDraft.model_validate(
            {"sku": f"R-{uuid.uuid4().hex[:10]}", "name": name, "price": "5.00", "currency": "EUR"}
        )
        product, _ = ProductCatalog(session, OutboxWriter("/test")).create(draft)
        return product.id


def indexed(sessions: sessionmaker[Session], product_id: uuid.UUID, core: int, enrichment: int) -> None:
    with sessions() as session, session.begin():
        session.execute(
            text("INSERT INTO search.documents (product_id, core_version, enrichment_version) VALUES (:id, :c, :e)"),
            {"id": product_id, "c": core, "e": enrichment},
        )


def enriched(sessions: sessionmaker[Session], product_id: uuid.UUID, version: int) -> None:
    with sessions() as session, session.begin():
        session.execute(
            text(
                "INSERT INTO product_enrichment (product_id, computed_from_version, keywords, slug, category, "
                "price_band, completeness_score, missing_fields) "
                "VALUES (:id, :v, ARRAY['lamp'], 'lamp', 'lighting', 'budget', 0.5, ARRAY['brand'])"
            ),
            {"id": product_id, "v": version},
        )


def announced(sessions: sessionmaker[Session], product_id: uuid.UUID) -> list[str]:
    with sessions() as session:
        rows = session.execute(
            select(outbox.c.event_type, outbox.c.payload)
            .where(outbox.c.aggregate_id == str(product_id))
            .order_by(outbox.c.id)
        ).all()
    for event_type, payload in rows:
        validate_event(event_type, payload)
    return [event_type for event_type, _ in rows]


def test_only_what_is_missing_or_behind_is_announced_again(fresh_database: str) -> None:
    sessions = sessionmaker(create_engine(fresh_database))
    never_indexed = create(sessions, "Lamp whose events were lost")
    enrichment_lost = create(sessions, "Lamp whose enriched event was lost")
    indexed(sessions, enrichment_lost, core=1, enrichment=0)
    enriched(sessions, enrichment_lost, 1)
    up_to_date = create(sessions, "Lamp the pipeline handled")
    indexed(sessions, up_to_date, core=1, enrichment=1)
    enriched(sessions, up_to_date, 1)
    gaps = PipelineGaps(sessions, OutboxWriter("/catalog/enricher"))

    assert gaps.heal_behind(START, grace_s=0, limit=100) == [never_indexed]
    assert gaps.heal_unindexed_enrichments(START, grace_s=0, limit=100) == [enrichment_lost]
    assert announced(sessions, never_indexed) == ["product.created", "product.updated"]
    assert announced(sessions, enrichment_lost) == ["product.created", "product.enriched"]
    assert announced(sessions, up_to_date) == ["product.created"]
    # Fresh changes are the normal path's: within the grace period nothing is announced again.
    assert gaps.heal_behind(START, grace_s=3600, limit=100) == []


def test_the_reconciler_walks_in_bounded_batches_and_wraps_round(fresh_database: str) -> None:
    sessions = sessionmaker(create_engine(fresh_database))
    lost = sorted(create(sessions, f"Lost {n}") for n in range(3))
    reconciler = Reconciler(PipelineGaps(sessions, OutboxWriter("/catalog/enricher")), grace_s=0, batch=2)
    assert asyncio.run(reconciler.tick()) == 2
    assert reconciler.cursors["behind"] == lost[1]
    assert asyncio.run(reconciler.tick()) == 1  # the rest, then back to the start
    assert reconciler.cursors["behind"] == START
    assert [announced(sessions, p).count("product.updated") for p in lost] == [1, 1, 1]


def test_the_reconciler_waits_while_a_bulk_backlog_is_worked_off(fresh_database: str) -> None:
    sessions = sessionmaker(create_engine(fresh_database))
    lost = create(sessions, "Queued, not lost")
    backlog = [True]
    reconciler = Reconciler(
        PipelineGaps(sessions, OutboxWriter("/catalog/enricher")), grace_s=0, batch=2, busy=lambda: backlog[0]
    )
    assert asyncio.run(reconciler.tick()) == 0
    assert announced(sessions, lost) == ["product.created"]
    backlog[0] = False  # the backlog is gone: now a product still behind is healed
    assert asyncio.run(reconciler.tick()) == 1
    assert announced(sessions, lost) == ["product.created", "product.updated"]
