"""Fresh products are searchable before the search index has them: the indexer announces the products of
interactive batches, the search API reads their rows and answers for them beside the index (the overlay) until the
index has caught up. On the real PostgreSQL, with the follower stopped where the tests say so."""

import asyncio
import contextlib
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text

from catalog_indexer.adapters.read_model import FreshNotices, SearchDocuments
from catalog_indexer.adapters.search_index import FreshOverlay, IndexGenerations, SearchIndex, SearchResult
from catalog_indexer.domain.search_query import SearchQuery
from catalog_indexer.service_layer.fresh_products import FreshProducts
from catalog_indexer.service_layer.index_follower import IndexFollower
from catalog_indexer.service_layer.indexing import Indexer
from catalog_kit.db import libpq_conninfo, make_engine
from catalog_kit.envelope import EventEnvelope
from catalog_schemas.topics import Lane
from tests.support import wait_until

DEADLINE_S = 30.0  # generous: what is asserted is the outcome, never how soon


def snapshot(pid: str, version: int, token: str, **changes: Any) -> dict[str, Any]:
    return {
        "id": pid,
        "sku": f"FR-{token}",
        "name": f"Walnut desk {token}",
        "brand": "Frescoe",
        "description": "A solid writing desk",
        "price": "420.00",
        "currency": "EUR",
        "stock": 1,
        "attributes": {},
        "images": [],
        "status": "active",
        "variants": [],
        "version": version,
        "created_at": "2026-12-01T10:00:00+00:00",
        "updated_at": "2026-12-01T10:00:00+00:00",
        **changes,
    }


def event(kind: str, data: dict[str, Any], lane: Lane = Lane.INTERACTIVE) -> EventEnvelope:
    return EventEnvelope(type=kind, source="/test", subject=data["id"], data=data, lane=lane)


@dataclass
class Searching:
    """A search API's side (index reader, overlay and its loop) and the indexer's (batches, follower), apart."""

    engine: Engine
    documents: SearchDocuments
    follower: IndexFollower
    overlay: FreshOverlay
    index: SearchIndex

    def write(self, *events: EventEnvelope) -> None:
        asyncio.run(Indexer(self.documents).handle_batch(list(events)))

    def search(self, **query: Any) -> SearchResult:
        return self.index.search(SearchQuery(**{"text": None, **query}))

    def ids(self, **query: Any) -> list[str]:
        return [h.id for h in self.search(**query).hits]


@pytest.fixture
def searching(fresh_database: str, tmp_path: Path) -> Iterator[Searching]:
    engine = make_engine(fresh_database, 3)
    documents = SearchDocuments(engine)
    follower = IndexFollower(documents, IndexGenerations(tmp_path))
    follower.catch_up()  # a published, empty generation: the search API is ready
    overlay = FreshOverlay()
    index = SearchIndex(tmp_path, fresh=overlay)
    loop = FreshProducts(FreshNotices(libpq_conninfo(fresh_database)), documents, overlay, index.position)
    stop = threading.Event()
    thread = threading.Thread(target=loop.run, args=(stop, 0.2, 0.2), daemon=True)
    thread.start()
    try:
        yield Searching(engine, documents, follower, overlay, index)
    finally:
        stop.set()
        thread.join(10)
        if follower.writer is not None:
            follower.writer.close()
        engine.dispose()


def test_an_interactive_product_is_found_before_the_index_has_it(searching: Searching) -> None:
    token = uuid.uuid4().hex[:10]
    pid = str(uuid.uuid4())
    position = searching.index.position()
    searching.write(event("product.created", snapshot(pid, 1, token)))

    # The follower has not run: only the overlay can answer.
    hit = wait_until(lambda: next((h for h in searching.search(text=token).hits if h.id == pid), None), DEADLINE_S)
    assert searching.index.position() == position
    assert hit.name == f"Walnut desk {token}"
    assert hit.enrichment_status == "pending"
    assert searching.search(text=f"FR-{token}").hits[0].id == pid  # by SKU, first
    assert searching.search(brand="frescoe").total == 1  # filters and facets count it
    assert searching.search(text=token).facets["brand"] == [{"value": "Frescoe", "count": 1}]

    # A bulk product is not announced: it waits for the index.
    bulk_token = uuid.uuid4().hex[:10]
    searching.write(event("product.created", snapshot(str(uuid.uuid4()), 1, bulk_token), lane=Lane.BULK))
    searching.write(event("product.created", snapshot(str(uuid.uuid4()), 1, uuid.uuid4().hex[:10])))
    wait_until(lambda: searching.search(brand="frescoe").total == 2, DEADLINE_S)
    assert searching.search(text=bulk_token).total == 0

    # Once the index has caught up, the overlay lets go and the index answers alone, the same way.
    searching.follower.catch_up()
    wait_until(lambda: not searching.overlay.ids(), DEADLINE_S)
    assert searching.overlay.pending(searching.index.position()) is None
    assert [h.id for h in searching.search(text=token).hits] == [pid]
    assert searching.search(brand="frescoe").total == 3


def test_an_update_replaces_the_indexed_document_once_and_a_deletion_hides_it(searching: Searching) -> None:
    token = uuid.uuid4().hex[:10]
    pid, other = str(uuid.uuid4()), str(uuid.uuid4())
    searching.write(
        event("product.created", snapshot(pid, 1, token, price="300.00")),
        event("product.created", snapshot(other, 1, f"{token}x", price="350.00", brand="Otherco")),
    )
    searching.follower.catch_up()  # both are in the index
    wait_until(lambda: not searching.overlay.ids(), DEADLINE_S)
    assert searching.search(text="walnut", sort="price_asc").total == 2

    # Version 2 renames it and moves it above the other one by price; the index still holds version 1.
    searching.write(event("product.updated", snapshot(pid, 2, token, name=f"Oak desk {token}", price="390.00")))

    def renamed() -> SearchResult | None:
        found = searching.search(text="desk", sort="price_asc")
        return found if any(h.name == f"Oak desk {token}" for h in found.hits) else None

    found = wait_until(renamed, DEADLINE_S)
    assert [h.id for h in found.hits] == [other, pid]  # merged in the sort's order, once each
    assert [h.price for h in found.hits] == ["350.00", "390.00"]
    assert found.total == 2
    assert sorted((f["value"], f["count"]) for f in found.facets["brand"]) == [("Frescoe", 1), ("Otherco", 1)]
    assert searching.ids(text="walnut") == [other]  # the indexed version 1 no longer matches its old name
    assert searching.search(text="walnut").total == 1
    # Relevance: the fresh version ranks by the same rules as the indexed one (a name match above the rest).
    assert searching.ids(text=f"oak {token}")[0] == pid
    # Pages are cut after merging: page by page gives the same order as one page of both.
    both = searching.ids(text="desk", limit=2)
    assert sorted(both) == sorted([pid, other])
    assert searching.ids(text="desk", limit=1) + searching.ids(text="desk", page=2, limit=1) == both
    assert searching.search(text="desk", page=2, limit=1).total == 2

    # Deleted: gone from the results while the index still has it.
    deleted = {"id": pid, "sku": f"FR-{token}", "version": 3, "deleted_at": "2026-12-01T11:00:00+00:00"}
    searching.write(event("product.deleted", deleted))
    wait_until(lambda: pid not in searching.ids(text="desk"), DEADLINE_S)
    found = searching.search(text="desk")
    assert [h.id for h in found.hits] == [other]
    assert found.total == 1
    assert found.facets["brand"] == [{"value": "Otherco", "count": 1}]

    searching.follower.catch_up()
    wait_until(lambda: not searching.overlay.ids(), DEADLINE_S)
    assert searching.ids(text="desk") == [other]


def test_announcements_resume_after_the_session_is_lost(searching: Searching) -> None:
    first = uuid.uuid4().hex[:10]
    searching.write(event("product.created", snapshot(str(uuid.uuid4()), 1, first)))
    wait_until(lambda: searching.search(text=first).total == 1, DEADLINE_S)

    # What a database restart does to the listening session.
    with searching.engine.connect() as conn:
        conn.execute(
            text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND query LIKE 'LISTEN%'"
            )
        )
        conn.commit()

    def found_again() -> bool:
        # Announced while the session is down, a product waits for the follower (not running here): try again.
        token = uuid.uuid4().hex[:10]
        searching.write(event("product.created", snapshot(str(uuid.uuid4()), 1, token)))
        with contextlib.suppress(AssertionError):
            return wait_until(lambda: searching.search(text=token).total == 1, 2)
        return False

    wait_until(found_again, DEADLINE_S, interval=0)
    searching.follower.catch_up()
    wait_until(lambda: not searching.overlay.ids(), DEADLINE_S)
