"""Fast path and slow path through real processes: searchable at once, enriched later, never clobbered."""

import json
import re
import threading
import time
import uuid
from typing import Any

import httpx
import psycopg
import pytest
from confluent_kafka import Producer

from catalog_kit.db import libpq_conninfo
from catalog_kit.envelope import EventEnvelope
from catalog_kit.settings import CatalogSettings
from catalog_schemas.topics import DEAD_LETTER_HEADERS, PRODUCT
from catalog_stack.cli import detail
from catalog_stack.infra import Endpoints
from catalog_stream.dead_letters import read
from tests.conftest import WRITE_KEY, System
from tests.support import metric, wait_until

AUTH = {"Authorization": f"Bearer {WRITE_KEY}"}
# A generous deadline, not the promise: how soon a product is searchable is measured by bench/freshness.py.
FRESHNESS_S = 30.0


def new_product(http: httpx.Client, token: str, **changes: Any) -> dict[str, Any]:
    response = http.post(
        "/products",
        json={
            "sku": f"SKU-{token}",
            "name": f"Organic cotton tee {token}",
            "brand": "Lumen",
            "description": "A soft everyday t-shirt",
            "price": "24.90",
            "currency": "EUR",
            "attributes": {"material": "cotton"},
            **changes,
        },
    )
    assert response.status_code == 201, response.text
    product: dict[str, Any] = response.json()
    return product


def hits(search: httpx.Client, q: str, **params: Any) -> list[dict[str, Any]]:
    response = search.get("/search", params={"q": q, **params})
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()["hits"]
    return found


@pytest.fixture
def http(running_system: System) -> httpx.Client:
    return httpx.Client(base_url=running_system.api_url, headers=AUTH, timeout=10)


@pytest.fixture
def search(running_system: System) -> httpx.Client:
    return httpx.Client(base_url=running_system.search_url, timeout=10)


def test_searchable_within_a_second_while_enrichment_is_down(
    running_system: System, http: httpx.Client, search: httpx.Client
) -> None:
    running_system.process("enricher").stop()
    try:
        tokens = [f"t{uuid.uuid4().hex[:12]}" for _ in range(100)]
        latencies = []
        for token in tokens:
            posted = time.monotonic()
            product = new_product(http, token)
            # Wait for this very product: a typo-tolerant match of another product's random token is no proof.
            [hit] = wait_until(
                lambda: [h for h in hits(search, token) if h["id"] == product["id"]],  # noqa: B023
                timeout=FRESHNESS_S,
                interval=0.01,
            )
            latencies.append(time.monotonic() - posted)
            assert hit["enrichment_status"] == "pending"
        latencies.sort()
        print(
            f"POST→searchable over 100 products: p50 {latencies[49] * 1000:.0f} ms, max {latencies[-1] * 1000:.0f} ms"
        )
    finally:
        running_system.restart("enricher")

    def all_enriched() -> bool:
        # "apparel" comes only from the derived category, never from the product's own fields.
        # The product itself ranks first (both words match); others match "apparel" alone.
        return all(
            (found := hits(search, f"apparel {t}"))
            and found[0]["sku"] == f"SKU-{t}"
            and found[0]["enrichment_status"] == "complete"
            for t in tokens
        )

    wait_until(all_enriched, timeout=90, interval=0.5)


def test_a_shoppers_product_is_searchable_while_the_index_is_not_updated(
    running_system: System, http: httpx.Client, search: httpx.Client
) -> None:
    # The indexer keeps writing the read model but no one the index: only the search API's overlay can answer.
    running_system.process("search-index").stop()
    token = f"o{uuid.uuid4().hex[:12]}"
    try:
        product = new_product(http, token)
        wait_until(lambda: [h for h in hits(search, token) if h["id"] == product["id"]], timeout=60)
        updated = http.patch(
            f"/products/{product['id']}", json={"name": f"Merino wool sweater {token}"}, headers={"If-Match": '"1"'}
        )
        assert updated.status_code == 200, updated.text
        renamed = wait_until(
            lambda: (found := hits(search, token)) and found[0]["name"].startswith("Merino") and found, timeout=60
        )
        assert [h["id"] for h in renamed] == [product["id"]]  # one hit: the overlay's, not the index's too
        assert search.get("/readyz").json()["fresh"] >= 1
        # The stalled writer shows, in readiness and in metrics, while searches go on.
        stalled = wait_until(lambda: (ready := search.get("/readyz").json())["behind_s"] >= 1 and ready, timeout=60)
        assert stalled["lag"] >= 2
        assert stalled["status"] == "ready"

        def stall_exported() -> str | None:  # the gauges are read at most once a second: polled, not read once
            exported = search.get("/metrics").text
            return exported if (metric(exported, "catalog_search_index_behind_seconds") or 0) > 0 else None

        assert (metric(wait_until(stall_exported, timeout=60), "catalog_search_index_lag_changes") or 0) >= 2
    finally:
        running_system.restart("search-index")
    # The follower catches up; the overlay lets go and the index answers the same.
    wait_until(lambda: search.get("/readyz").json()["fresh"] == 0, timeout=90, interval=0.5)
    wait_until(lambda: search.get("/readyz").json()["behind_s"] == 0, timeout=90, interval=0.5)  # nothing waits
    assert [h["name"] for h in hits(search, token)] == [f"Merino wool sweater {token}"]
    # Left enriched, so no request for it is still queued in the enricher when the next test starts.
    wait_until(lambda: hits(search, token)[0]["enrichment_status"] == "complete", timeout=90, interval=0.5)


def claimed(database_url: str, product_id: str) -> bool:
    """A worker holds the product's enrichment work: claimed, and its lease still running."""
    with psycopg.connect(libpq_conninfo(database_url)) as conn:
        row = conn.execute(
            "SELECT attempts > 0 AND available_at > now() FROM enrichment_queue WHERE product_id = %s", (product_id,)
        ).fetchone()
    return bool(row and row[0])


def test_an_update_during_slow_enrichment_ends_with_the_new_version_enriched(
    running_system: System, endpoints: Endpoints, http: httpx.Client, search: httpx.Client
) -> None:
    running_system.restart("enricher", PROVIDER_DELAY_S="5", PROVIDER_TIMEOUT_S="30", LOG_LEVEL="INFO")
    try:
        warm_up = f"w{uuid.uuid4().hex[:12]}"
        new_product(http, warm_up)  # the enricher is consuming once this one is enriched
        wait_until(lambda: (found := hits(search, warm_up)) and found[0]["enrichment_status"] == "complete", timeout=60)

        token = f"r{uuid.uuid4().hex[:12]}"
        product = new_product(http, token)
        # Version 2 is written while a worker holds version 1's work (the provider takes 5 s). Whichever way the
        # worker meets it - version 1's facts already read (stale at the save, enriched again) or not yet (it reads
        # version 2) - only what version 2 gives may survive.
        wait_until(lambda: claimed(endpoints.database_url, product["id"]), timeout=60, interval=0.05)
        updated = http.patch(
            f"/products/{product['id']}", json={"name": f"Merino wool sweater {token}"}, headers={"If-Match": '"1"'}
        )
        assert updated.status_code == 200

        def enriched_v2() -> dict[str, Any] | None:
            found = [h for h in hits(search, f"sweater {token}") if h["id"] == product["id"]]
            return found[0] if found and found[0]["enrichment_status"] == "complete" else None

        hit = wait_until(enriched_v2, timeout=90)
        assert hit["name"] == f"Merino wool sweater {token}"
        assert hit["category"] is not None
        assert "sweater" in hit["keywords"]
        assert "tee" not in hit["keywords"]  # nothing computed from version 1 survived
    finally:
        running_system.restart("enricher")


def test_killing_the_indexer_the_index_writer_and_the_search_api_during_a_burst_loses_no_document(
    running_system: System, http: httpx.Client, search: httpx.Client
) -> None:
    tokens = [f"k{uuid.uuid4().hex[:12]}" for _ in range(150)]
    writer = threading.Thread(target=lambda: [new_product(http, t) for t in tokens])
    writer.start()
    wait_until(lambda: hits(search, tokens[20]), timeout=30)
    running_system.kill("indexer")  # kill -9; its supervisor starts it again, no operator step
    wait_until(lambda: hits(search, tokens[60]), timeout=60)
    running_system.kill("search-index")  # the index's writer
    wait_until(lambda: hits(search, tokens[90]), timeout=60)
    running_system.kill("search-api")  # the index's reader: kill -9 too

    def found(token: str) -> bool:
        try:
            return bool(hits(search, token))
        except httpx.TransportError:  # the search API is being restarted
            return False

    writer.join()
    wait_until(lambda: all(found(t) for t in tokens), timeout=90, interval=0.5)


def test_a_poison_event_is_dead_lettered_and_the_partition_moves_on(
    running_system: System, endpoints: Endpoints, http: httpx.Client, search: httpx.Client
) -> None:
    key = str(uuid.uuid4())
    headers = EventEnvelope(type="product.updated", source="/test", subject=key, data={}).headers()
    producer = Producer({"bootstrap.servers": endpoints.kafka_bootstrap_servers})
    producer.produce(PRODUCT.name, key=key.encode(), value=b'{"id": "broken"', headers=list(headers.items()))
    producer.produce(
        PRODUCT.name,
        key=key.encode(),
        value=json.dumps({"id": key, "version": 1}).encode(),
        headers=list(headers.items()),
    )
    assert producer.flush(10) == 0

    settings = CatalogSettings(kafka_bootstrap_servers=endpoints.kafka_bootstrap_servers)

    def dead_letters() -> list[dict[str, str]]:
        found = [
            {**d.reason, "ce_id": dict(d.headers)["ce_id"].decode()}
            for d in read(settings, "indexer", timeout=2)
            if d.key == key.encode()
        ]
        return found if len(found) == 2 else []

    dead = wait_until(dead_letters, timeout=60, interval=0.5)
    errors = sorted(h["dlq_error"] for h in dead)
    assert errors[0].startswith("EnvelopeError") or errors[1].startswith("EnvelopeError")
    assert any("breaks its contract" in e for e in errors)
    assert all(h["ce_id"] == headers["ce_id"] and h["dlq_topic"] == PRODUCT.name for h in dead)
    assert all(set(h) - {"ce_id"} == set(DEAD_LETTER_HEADERS) for h in dead)  # as the AsyncAPI document says
    # Later events of the same topic are still indexed.
    token = f"p{uuid.uuid4().hex[:12]}"
    new_product(http, token)
    wait_until(lambda: hits(search, token), timeout=30)


def test_status_shows_how_far_the_search_index_is_behind(running_system: System) -> None:
    search_api = detail(running_system.service("search-api"), running=True, relay=None)
    assert search_api.startswith("readiness: ready")
    assert re.search(r", index lag \d+ changes \(\d+\.\d s\)", search_api), search_api
    # The writer has no port: status points at where its progress shows.
    assert "search-api's index lag" in detail(running_system.service("search-index"), running=True, relay=None)
