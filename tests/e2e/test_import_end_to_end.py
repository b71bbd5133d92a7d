"""Supplier feeds end to end through the running platform: HTTP upload → outbox → relay → importer → catalog and
product topic; then fix the data and retry the failed rows."""

import random
from typing import Any

import httpx
import pytest

from catalog_schemas.topics import PRODUCT_BULK
from catalog_stack.infra import Endpoints
from tests.conftest import WRITE_KEY, System
from tests.feeds import SupplierFeed, owner_of, product_body, supplier_feed
from tests.support import consume, wait_until

pytestmark = pytest.mark.e2e

AUTH = {"Authorization": f"Bearer {WRITE_KEY}"}
FINISHED = {"COMPLETED", "COMPLETED_WITH_ERRORS", "FAILED", "CANCELLED"}


def finished(http: httpx.Client, job_id: str, timeout: float = 180) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        job: dict[str, Any] = http.get(f"/imports/{job_id}").json()
        return job if job["state"] in FINISHED else None

    return wait_until(done, timeout=timeout, interval=0.2)


def ledger(http: httpx.Client, job_id: str, status: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    params: dict[str, Any] = {"status": status, "limit": 200}
    while True:
        page = http.get(f"/imports/{job_id}/rows", params=params).json()
        found += page["items"]
        if page["next_cursor"] is None:
            return found
        params["cursor"] = page["next_cursor"]


def catalog(http: httpx.Client, brand: str) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    params: dict[str, Any] = {"brand": brand, "limit": 200}
    while True:
        page = http.get("/products", params=params).json()
        found |= {p["sku"]: p for p in page["items"]}
        if page["next_cursor"] is None:
            return found
        params["cursor"] = page["next_cursor"]


def upload(http: httpx.Client, path: str, content: bytes, fmt: str) -> dict[str, Any]:
    media = {"csv": "text/csv", "jsonl": "application/x-ndjson"}[fmt]
    response = http.post(path, files={"file": (f"feed.{fmt}", content, media)}, data={"format": fmt})
    assert response.status_code == 202, response.text
    body: dict[str, Any] = response.json()
    return body


def prepare_catalog(http: httpx.Client, feed: SupplierFeed) -> list[str]:
    """Products outside the feed that hold some of its SKUs (the DUPLICATE rows); their ids."""
    owners = [http.post("/products", json=owner_of(sku)) for sku in feed.taken_skus]
    assert all(r.status_code == 201 for r in owners)
    return [r.json()["id"] for r in owners]


def fix_catalog(http: httpx.Client, feed: SupplierFeed, owner_ids: list[str]) -> None:
    """Free the taken SKUs and create the products the REFERENCE rows add variants to."""
    for product_id in owner_ids:
        assert http.delete(f"/products/{product_id}").status_code == 204
    for sku in feed.missing_products:
        assert http.post("/products", json=product_body(sku, feed.brand)).status_code == 201


def test_a_10k_row_csv_with_5_percent_bad_rows_then_fixed_and_retried(
    running_system: System, endpoints: Endpoints, unique: str
) -> None:
    feed = supplier_feed(f"E{unique}", f"E2E brand {unique}", rows=10_000)
    assert len(feed.bad) == 500
    with httpx.Client(base_url=running_system.api_url, headers=AUTH, timeout=60) as http:
        owner_ids = prepare_catalog(http, feed)
        submitted = upload(http, "/imports", feed.csv(), "csv")
        assert submitted["state"] == "PENDING"
        job = finished(http, submitted["id"])

        assert job["state"] == "COMPLETED_WITH_ERRORS", job
        assert job["rows"]["total"] == job["rows"]["processed"] == 10_000
        assert job["rows"]["failed"] == 500
        assert job["rows"]["skipped"] == len(feed.skipped) == 200
        assert job["rows"]["succeeded"] == job["rows"]["created"] == 9_300
        assert job["error_summary"] == {"DUPLICATE": 100, "PARSE": 100, "REFERENCE": 100, "VALIDATION": 200}
        assert job["rows_per_second"] > 0
        failed = ledger(http, job["id"], "failed")
        assert {row["row"]: row["category"] for row in failed} == feed.bad  # exactly the bad rows
        assert all(row["message"] and row["attempts"] == 1 for row in failed)
        assert {row["row"] for row in ledger(http, job["id"], "skipped")} == feed.skipped

        imported = catalog(http, feed.brand)
        missing = {row["product_sku"] for row in failed} | set(feed.missing_products)
        assert set(imported) == feed.product_skus - missing

        # Imported products went through the outbox like any other write: their events reach the product topic's
        # bulk lane, so that a feed never delays the API's writes.
        sample = random.sample(sorted(p["id"] for p in imported.values()), 20)
        records = consume(
            endpoints.kafka_bootstrap_servers,
            PRODUCT_BULK.name,
            sample,
            expected=20,
            timeout=30,
            types=["product.created"],
        )
        assert sorted(r.key for r in records) == sorted(sample)
        assert {r.event.source for r in records} == {"/catalog/importer"}
        # ... and through the indexer's fast path into search: every sampled product is found by its SKU.
        by_id = {p["id"]: p for p in imported.values()}
        with httpx.Client(base_url=running_system.search_url, timeout=10) as search:

            def found(product_id: str) -> bool:
                hits = search.get("/search", params={"q": by_id[product_id]["sku"]}).json()["hits"]
                return bool(hits) and hits[0]["id"] == product_id

            wait_until(lambda: all(found(pid) for pid in sample), timeout=180, interval=0.5)

        fix_catalog(http, feed, owner_ids)
        retried = upload(http, f"/imports/{job['id']}/retry-failed", feed.csv(fixed=True), "csv")
        assert (retried["state"], retried["mode"]) == ("PENDING", "retry")
        done = finished(http, job["id"])
        assert done["state"] == "COMPLETED", done
        assert done["rows"]["succeeded"] == 10_000
        assert done["error_summary"] == {}
        assert ledger(http, job["id"], "attention") == []
        assert set(catalog(http, feed.brand)) == feed.product_skus


def test_a_json_lines_feed_end_to_end(running_system: System, unique: str) -> None:
    feed = supplier_feed(f"EJ{unique}", f"E2E jsonl {unique}", rows=200)
    with httpx.Client(base_url=running_system.api_url, headers=AUTH, timeout=30) as http:
        owner_ids = prepare_catalog(http, feed)
        job = finished(http, upload(http, "/imports", feed.jsonl(), "jsonl")["id"])
        assert job["state"] == "COMPLETED_WITH_ERRORS"
        assert {r["row"]: r["category"] for r in ledger(http, job["id"], "failed")} == feed.bad
        fix_catalog(http, feed, owner_ids)
        done = finished(http, upload(http, f"/imports/{job['id']}/retry-failed", feed.jsonl(fixed=True), "jsonl")["id"])
        assert done["state"] == "COMPLETED"
        assert set(catalog(http, feed.brand)) == feed.product_skus

        again = finished(http, upload(http, "/imports", feed.jsonl(fixed=True), "jsonl")["id"])
        assert again["state"] == "COMPLETED"
        assert again["rows"]["unchanged"] == 200  # nothing changed: no new versions, no events
