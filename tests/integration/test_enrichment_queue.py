"""Enrichment work by priority on the real database: claim order, leases and concurrent claimers, parking and
resuming under the bound, degraded results made complete when a real (loopback) provider recovers, refresh by age
and by rules version, and the search API's reports of pending hits."""

import asyncio
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, select, text
from sqlalchemy.orm import Session, sessionmaker

from catalog_core.domain.products import ProductDraft
from catalog_core.service_layer.catalog import ProductCatalog
from catalog_enricher.adapters.catalog_store import EnrichmentStore
from catalog_enricher.adapters.http_provider import HttpProvider
from catalog_enricher.adapters.provider import (
    EnrichmentProvider,
    LocalProvider,
    ProviderUnavailable,
    ResilientProvider,
)
from catalog_enricher.adapters.work_queue import EnrichmentQueue, WorkRequest
from catalog_enricher.domain.facts import ProductFacts
from catalog_enricher.domain.priorities import Backpressure, Priority
from catalog_enricher.domain.taxonomy import Taxonomy
from catalog_enricher.service_layer.enrichment import Enricher
from catalog_enricher.service_layer.work import EnrichmentWork
from catalog_kit.enrichment_requests import EnrichmentRequests
from catalog_kit.envelope import EventEnvelope
from catalog_kit.outbound import OutboundClient
from catalog_kit.outbound_policy import OutboundPolicy
from catalog_kit.outbox import OutboxWriter, outbox
from catalog_schemas import Lane, validate_event
from tests.provider_server import ProviderServer
from tests.support import wait_until


@pytest.fixture
def db(fresh_database: str) -> Iterator[sessionmaker[Session]]:
    engine = create_engine(fresh_database)
    yield sessionmaker(engine)
    engine.dispose()


@pytest.fixture
def provider_server() -> Iterator[ProviderServer]:
    server = ProviderServer(slow_s=1.0)
    yield server
    server.close()


def create(db: sessionmaker[Session], name: str = "Linen tee") -> str:
    with db() as session, session.begin():
        draft = ProductDraft.model_validate(
            {"sku": f"EQ-{uuid.uuid4().hex[:10]}", "name": name, "brand": "Acme", "price": "19.90", "currency": "EUR"}
        )
        _, snapshot = ProductCatalog(session, OutboxWriter("/test")).create(draft)
        return str(snapshot["id"])


def enriched_order(db: sessionmaker[Session]) -> list[str]:
    """Products in the order their product.enriched events were written."""
    with db() as session:
        rows = session.execute(
            select(outbox.c.aggregate_id).where(outbox.c.event_type == "product.enriched").order_by(outbox.c.id)
        ).all()
    return [str(row.aggregate_id) for row in rows]


def enrichment_row(db: sessionmaker[Session], product_id: str) -> Any:
    with db() as session:
        return session.execute(
            text("SELECT * FROM product_enrichment WHERE product_id = CAST(:id AS uuid)"), {"id": product_id}
        ).one_or_none()


def queue_rows(db: sessionmaker[Session]) -> dict[str, Any]:
    with db() as session:
        rows = session.execute(text("SELECT product_id::text AS id, * FROM enrichment_queue")).all()
    return {row.id: row for row in rows}


def worker(
    db: sessionmaker[Session],
    provider: EnrichmentProvider | None = None,
    *,
    bound: int = 10_000,
    batch: int = 3,
    rules_version: int = 1,
) -> EnrichmentWork:
    store = EnrichmentStore(db, OutboxWriter("/test"), rules_version=rules_version)
    resilient = provider or ResilientProvider(LocalProvider())
    enricher = Enricher(store=store, provider=resilient, taxonomy=Taxonomy.default())
    return EnrichmentWork(EnrichmentQueue(db), store, enricher, Backpressure(bound), batch=batch, degraded_every_s=0)


def test_work_is_done_by_priority_whatever_order_it_was_queued_in(db: sessionmaker[Session]) -> None:
    low, low_then_searched, normal, high, critical = (create(db) for _ in range(5))
    work = worker(db, batch=2)

    async def scenario() -> None:
        # Queued least urgent first, each in its own transaction (their own enqueue times).
        await work.request([low], Priority.LOW, "refresh")
        await work.request([low_then_searched], Priority.LOW, "refresh")
        await work.request([normal], Priority.NORMAL, "import")
        await work.request([high], Priority.HIGH, "change")
        await work.request([critical], Priority.CRITICAL, "searched")
        await work.request([low_then_searched], Priority.CRITICAL, "searched")  # jumps the line, keeps its place
        assert (await work.refresh_counts()).pending == {
            Priority.CRITICAL: 2,
            Priority.HIGH: 1,
            Priority.NORMAL: 1,
            Priority.LOW: 1,
        }
        await work.tick()

    asyncio.run(scenario())
    assert enriched_order(db) == [low_then_searched, critical, high, normal, low]
    assert queue_rows(db) == {}


def test_claimers_never_share_work_and_a_dead_claimers_work_is_claimed_again(db: sessionmaker[Session]) -> None:
    products = [create(db) for _ in range(10)]
    first, second = EnrichmentQueue(db, lease_s=1.0), EnrichmentQueue(db, lease_s=1.0)
    first.enqueue_many([WorkRequest(p, Priority.NORMAL, "import") for p in products])
    with ThreadPoolExecutor(2) as pool:
        claims = list(pool.map(lambda q: q.claim(6), (first, second)))
    ids = [{w.product_id for w in claim} for claim in claims]
    assert not ids[0] & ids[1]
    assert ids[0] | ids[1] == set(products)
    # Neither reports back (as if both were killed): once the leases run out, another claimer gets everything
    # (the two leases run out at slightly different times: gather what each claim gets).
    again: dict[str, Any] = {}

    def reclaimed() -> bool:
        for work in second.claim(20):
            again.setdefault(work.product_id, work)  # the first reclaim of each (a later one would be a third claim)
        return len(again) == len(products)

    wait_until(reclaimed, timeout=30)
    assert set(again) == set(products)
    assert {w.attempts for w in again.values()} == {2}


def test_work_asked_for_again_while_being_done_stays_queued(db: sessionmaker[Session]) -> None:
    product = create(db)
    queue = EnrichmentQueue(db)
    queue.enqueue_many([WorkRequest(product, Priority.NORMAL, "import")])
    claimed = queue.claim(10)
    queue.enqueue_many([WorkRequest(product, Priority.HIGH, "change")])  # the product changed meanwhile
    queue.done(claimed)
    assert [(w.product_id, w.priority) for w in queue.claim(10)] == [(product, Priority.HIGH)]


def test_low_work_is_parked_over_the_bound_and_done_when_the_backlog_falls(db: sessionmaker[Session]) -> None:
    normal = [create(db) for _ in range(4)]
    low = [create(db) for _ in range(3)]
    work = worker(db, bound=3, batch=10)
    slowed: list[float] = []

    async def pause(seconds: float) -> None:
        slowed.append(seconds)

    work.sleep = pause

    async def scenario() -> None:
        await work.request(normal, Priority.NORMAL, "import")
        await work.refresh_counts()
        await work.request(low, Priority.LOW, "refresh")
        rows = queue_rows(db)
        assert {rows[p].state for p in low} == {"parked"}
        assert (await work.refresh_counts()).parked == 3
        bulk = EventEnvelope(
            type="product.updated", source="/t", subject=normal[0], data=snapshot(db, normal[0]), lane=Lane.BULK
        )
        await work.request_changes([bulk])
        assert slowed == [work.slow_s]
        await work.tick()  # the backlog was over the bound when it started: parked work waits
        assert set(enriched_order(db)) == set(normal)
        await work.tick()  # now under half the bound: released and done
        counts = await work.refresh_counts()
        assert (counts.backlog, counts.parked) == (0, 0)

    asyncio.run(scenario())
    assert set(enriched_order(db)[4:]) == set(low)
    assert queue_rows(db) == {}


def snapshot(db: sessionmaker[Session], product_id: str) -> dict[str, Any]:
    with db() as session:
        product = ProductCatalog(session, OutboxWriter("/test")).products.get(uuid.UUID(product_id))
        assert product is not None
        return dict(product.snapshot())


def http_provider(server: ProviderServer, timeout_s: float = 0.5, **options: Any) -> ResilientProvider:
    client = OutboundClient(OutboundPolicy.parse(server.address), timeout_s=timeout_s)
    settings: dict[str, Any] = {"timeout_s": timeout_s, "max_attempts": 2, "backoff_base_s": 0.01} | options
    # The HTTP deadline outlasts the per-call timeout, so that a slow answer counts as a timeout of the call.
    return ResilientProvider(HttpProvider(client, server.url, deadline_s=2 * timeout_s), **settings)


def test_degraded_enrichment_becomes_complete_when_the_provider_recovers(
    db: sessionmaker[Session], provider_server: ProviderServer
) -> None:
    product = create(db, "Linen tee")
    provider_server.default = "500"
    work = worker(db, http_provider(provider_server, failure_threshold=100))
    asyncio.run(work.request([product], Priority.HIGH, "change"))
    asyncio.run(work.tick())
    degraded = enrichment_row(db, product)
    assert degraded.status == "degraded"
    assert list(degraded.degraded) == ["keywords"]
    assert "from-provider" not in degraded.keywords

    provider_server.default = "ok"
    asyncio.run(work.tick())  # finds the degraded result, queues it at low and enriches it again
    complete = enrichment_row(db, product)
    assert complete.status == "complete"
    assert list(complete.degraded) == []
    assert "from-provider" in complete.keywords
    assert complete.computed_from_version == degraded.computed_from_version
    assert queue_rows(db) == {}


def test_the_http_provider_under_faults(provider_server: ProviderServer) -> None:
    facts = ProductFacts.from_snapshot(
        {"id": str(uuid.uuid4()), "version": 1, "sku": "F-1", "name": "Linen tee", "price": "9.90", "currency": "EUR"}
    )
    outcomes: list[str] = []
    provider = http_provider(provider_server, timeout_s=0.3, max_attempts=3, observe=outcomes.append)

    provider_server.script("429", "ok")
    assert "from-provider" in asyncio.run(provider.lookup(facts)).keywords
    provider_server.script("slow", "ok")
    assert "from-provider" in asyncio.run(provider.lookup(facts)).keywords
    provider_server.script("500", "500", "500")
    with pytest.raises(ProviderUnavailable):
        asyncio.run(provider.lookup(facts))
    assert outcomes == ["rate_limited", "ok", "timeout", "ok", "error", "error", "error"]
    assert provider_server.requests[0]["product"]["name"] == "Linen tee"

    provider_server.close()  # down
    with pytest.raises(ProviderUnavailable):
        asyncio.run(provider.lookup(facts))


def test_refresh_queues_old_enrichments_and_ones_made_by_older_rules(db: sessionmaker[Session]) -> None:
    aged, current = create(db), create(db)
    work = worker(db)
    asyncio.run(work.request([aged, current], Priority.HIGH, "change"))
    asyncio.run(work.tick())
    with db() as session, session.begin():
        session.execute(
            text(
                "UPDATE product_enrichment SET updated_at = now() - interval '30 days' "
                "WHERE product_id = CAST(:id AS uuid)"
            ),
            {"id": aged},
        )
    queue = EnrichmentQueue(db)
    week = 7 * 86400.0
    assert queue.queue_stale(week, rules_version=1, limit=10, parked=False) == 1
    rows = queue_rows(db)
    assert [(p, rows[p].priority, rows[p].reason) for p in rows] == [(aged, Priority.LOW, "age")]
    asyncio.run(work.tick())
    assert enrichment_row(db, aged).updated_at > enrichment_row(db, current).updated_at
    assert queue_rows(db) == {}

    # New rules: everything is refreshed, in bounded batches.
    assert queue.queue_stale(week, rules_version=2, limit=1, parked=False) == 1
    assert queue.queue_stale(week, rules_version=2, limit=10, parked=False) == 1
    assert {row.reason for row in queue_rows(db).values()} == {"rules"}
    asyncio.run(worker(db, rules_version=2).tick())
    assert {enrichment_row(db, p).rules_version for p in (aged, current)} == {2}
    assert queue.queue_stale(week, rules_version=2, limit=10, parked=False) == 0


def test_a_search_hit_pending_enrichment_is_requested_at_critical(
    db: sessionmaker[Session], fresh_database: str
) -> None:
    product, other = create(db), create(db)
    work = worker(db)
    asyncio.run(work.request([other], Priority.NORMAL, "import"))
    engine = create_engine(fresh_database)
    try:
        hits = EnrichmentRequests(sessionmaker(engine), OutboxWriter("/catalog/search"), "searched", every_s=0.0)
        assert hits.note([product])
        assert hits.flush() == 1
        assert not hits.note([product])  # reported a moment ago: not again
    finally:
        engine.dispose()
    with db() as session:
        row = session.execute(
            select(outbox.c.aggregate_id, outbox.c.payload, outbox.c.topic).where(
                outbox.c.event_type == "enrichment.requested"
            )
        ).one()
    validate_event("enrichment.requested", row.payload)
    assert row.topic == "catalog.enrichment.v1"
    event = EventEnvelope(type="enrichment.requested", source="/catalog/search", subject=product, data=row.payload)
    asyncio.run(work.requested([event]))
    assert [w.product_id for w in EnrichmentQueue(db).claim(1)] == [product]


def test_failed_work_is_tried_again_when_the_product_changes_not_when_someone_looks_at_it(
    db: sessionmaker[Session],
) -> None:
    product = create(db)
    queue = EnrichmentQueue(db)
    queue.enqueue_many([WorkRequest(product, Priority.HIGH, "created")])
    [claimed] = queue.claim(1)
    queue.fail(claimed, "broken facts")
    queue.enqueue_many([WorkRequest(product, Priority.CRITICAL, "viewed")])
    assert queue_rows(db)[product].state == "failed"
    assert queue.claim(1) == []
    queue.enqueue_many([WorkRequest(product, Priority.HIGH, "updated")])
    assert queue_rows(db)[product].state == "queued"
    assert [w.product_id for w in queue.claim(1)] == [product]


def requested(db: sessionmaker[Session]) -> list[tuple[str, str, str]]:
    """The enrichment requests in the outbox (each checked against its schema): product, priority, reason."""
    with db() as session:
        rows = session.execute(
            select(outbox.c.aggregate_id, outbox.c.payload).where(outbox.c.event_type == "enrichment.requested")
        ).all()
    for row in rows:
        validate_event("enrichment.requested", row.payload)
    return [(str(r.aggregate_id), r.payload["priority"], r.payload["reason"]) for r in rows]


def test_a_product_viewed_while_its_enrichment_waits_is_requested_at_critical_after_the_response(
    db: sessionmaker[Session], fresh_database: str
) -> None:
    from fastapi.testclient import TestClient

    from catalog_api.entrypoints.http import create_app as create_api_app
    from catalog_api.settings import ApiSettings

    waiting, enriched, failed = create(db), create(db), create(db)
    with db() as session, session.begin():
        session.execute(
            text("""INSERT INTO product_enrichment (product_id, computed_from_version, keywords, slug, price_band,
                                                    completeness_score, missing_fields)
                    VALUES (:id, 1, '{}', 'tee', 'mid', 1, '{}')"""),
            {"id": enriched},
        )
        session.execute(
            text("INSERT INTO enrichment_queue (product_id, priority, state, reason) VALUES (:id, 1, 'failed', 'x')"),
            {"id": failed},
        )
    engine = create_engine(fresh_database)
    try:
        app = create_api_app(ApiSettings(database_url=fresh_database), sessionmaker(engine))
        with TestClient(app) as client:
            for product in (waiting, enriched, failed, waiting):
                assert client.get(f"/products/{product}").status_code == 200
    finally:
        engine.dispose()
    # Only the waiting product, once: the enriched one is complete, the failed one given up until it changes.
    assert requested(db) == [(waiting, "critical", "viewed")]


def test_the_search_api_reports_a_hit_pending_enrichment_after_answering(
    db: sessionmaker[Session], fresh_database: str, tmp_path: Path
) -> None:
    from fastapi.testclient import TestClient

    from catalog_indexer.adapters.read_model import SearchDocuments
    from catalog_indexer.adapters.search_index import IndexGenerations
    from catalog_indexer.domain.document import CorePart
    from catalog_indexer.entrypoints.search_api import create_app as create_search_app
    from catalog_indexer.service_layer.index_follower import IndexFollower
    from catalog_indexer.settings import IndexerSettings

    token = f"pend{uuid.uuid4().hex[:10]}"
    with db() as session, session.begin():
        draft = ProductDraft.model_validate(
            {"sku": f"EQ-{token}", "name": f"Linen tee {token}", "price": "9.90", "currency": "EUR"}
        )
        _, created = ProductCatalog(session, OutboxWriter("/test")).create(draft)
    engine = create_engine(fresh_database)
    try:
        documents = SearchDocuments(engine)
        documents.apply(CorePart.from_snapshot(created))  # searchable, not enriched yet
        IndexFollower(documents, IndexGenerations(tmp_path)).catch_up()  # what the indexer's follower does
        app = create_search_app(IndexerSettings(database_url=fresh_database, search_index_dir=tmp_path), engine)
        with TestClient(app) as client:
            found = client.get("/search", params={"q": token})
        assert found.status_code == 200
        assert [(h["id"], h["enrichment_status"]) for h in found.json()["hits"]] == [(created["id"], "pending")]
    finally:
        engine.dispose()
    assert requested(db) == [(created["id"], "critical", "searched")]
