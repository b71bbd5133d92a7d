"""Bulk never delays interactive, through real processes: an API write goes before an import's backlog, and a
processor killed in the middle of its batches loses nothing and applies nothing out of order."""

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import psycopg
import pytest

from catalog_kit.db import libpq_conninfo
from catalog_kit.settings import CatalogSettings
from catalog_stack.infra import Endpoints
from catalog_stream.dead_letters import read
from tests.conftest import WRITE_KEY, System
from tests.support import wait_until

AUTH = {"Authorization": f"Bearer {WRITE_KEY}"}
BACKLOG_DEADLINE_S = 240.0  # generous: the backlog's speed is measured by bench/processors.py


def feed(prefix: str, products: int, name: str) -> bytes:
    rows = [f"{prefix}-{n},{name} {n},{10 + n % 50}.00,EUR" for n in range(products)]
    return ("sku,name,price,currency\n" + "\n".join(rows) + "\n").encode()


def imported(http: httpx.Client, content: bytes) -> dict[str, Any]:
    """Upload a feed and wait until the importer has finished it."""
    response = http.post("/imports", files={"file": ("feed.csv", content, "text/csv")}, data={"format": "csv"})
    assert response.status_code == 202, response.text
    job_id = response.json()["id"]

    def finished() -> dict[str, Any] | None:
        job: dict[str, Any] = http.get(f"/imports/{job_id}").json()
        return None if job["state"] in ("PENDING", "PROCESSING") else job

    job = wait_until(finished, timeout=BACKLOG_DEADLINE_S, interval=0.2)
    assert job["state"] == "COMPLETED", job
    return job


def scalar(conn: psycopg.Connection[Any], sql: str, *params: object) -> int:
    row = conn.execute(sql, params).fetchone()
    return int(row[0]) if row else 0


def published(conn: psycopg.Connection[Any]) -> bool:
    return scalar(conn, "SELECT count(*) FROM outbox WHERE published_at IS NULL") == 0


@pytest.fixture
def db(endpoints: Endpoints) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(libpq_conninfo(endpoints.database_url), autocommit=True) as conn:
        yield conn


@pytest.fixture
def http(running_system: System) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=running_system.api_url, headers=AUTH, timeout=60) as client:
        yield client


@pytest.fixture
def indexer_restored(running_system: System) -> Iterator[System]:
    """The test stops and restarts the indexer; it runs as configured again afterwards, whatever happened."""
    yield running_system
    running_system.restart("indexer")


def test_an_api_write_is_searchable_long_before_an_import_backlog(
    indexer_restored: System, http: httpx.Client, db: psycopg.Connection[Any]
) -> None:
    system, prefix, products = indexer_restored, f"LANE{uuid.uuid4().hex[:8]}", 3000
    # The indexer is away while a large feed imports: its whole backlog waits in the bulk lane.
    system.process("indexer").stop()
    imported(http, feed(prefix, products, "Bulk lamp"))
    lamp = {"sku": f"{prefix}-API", "name": "Pendant lamp", "price": "49.00", "currency": "EUR"}
    response = http.post("/products", json=lamp)
    assert response.status_code == 201, response.text
    interactive = response.json()["id"]
    wait_until(lambda: published(db), timeout=60, interval=0.1)

    # Small batches, so that the backlog takes many of them and the order shows.
    system.restart("indexer", CONSUMER_MAX_BATCH="50")

    def feed_indexed_when_interactive_was() -> int | None:
        row = db.execute(
            "SELECT (SELECT count(*) FROM search.documents WHERE product_id = %s AND core_version > 0), "
            "       (SELECT count(*) FROM search.documents WHERE sku LIKE %s AND core_version > 0)",
            (interactive, f"{prefix}-%"),
        ).fetchone()
        assert row is not None
        return int(row[1]) + 1 if row[0] else None  # +1: a count of 0 is a result too

    before = wait_until(feed_indexed_when_interactive_was, timeout=BACKLOG_DEADLINE_S, interval=0.01) - 1
    assert before < products // 2, f"the API write waited for {before} of the feed's {products} products"
    wait_until(
        lambda: scalar(db, "SELECT count(*) FROM search.documents WHERE sku LIKE %s", f"{prefix}-%") == products + 1,
        timeout=BACKLOG_DEADLINE_S,
        interval=0.2,
    )


def test_a_processor_killed_mid_batch_loses_nothing_and_keeps_the_newest_version(
    indexer_restored: System, http: httpx.Client, db: psycopg.Connection[Any], endpoints: Endpoints
) -> None:
    system, prefix, products = indexer_restored, f"KILL{uuid.uuid4().hex[:8]}", 2000
    system.process("indexer").stop()
    imported(http, feed(prefix, products, "First name"))
    imported(http, feed(prefix, products, "Second name"))  # version 2 of every product, right behind version 1
    wait_until(lambda: published(db), timeout=60, interval=0.1)
    system.restart("indexer", CONSUMER_MAX_BATCH="100")

    def indexed() -> int:
        return scalar(db, "SELECT count(*) FROM search.documents WHERE sku LIKE %s AND core_version > 0", f"{prefix}-%")

    # kill -9 twice while the backlog is being applied; the supervisor starts it again each time.
    for progress in (1, products // 2):

        def reached(at_least: int = progress) -> bool:
            return indexed() >= at_least

        wait_until(reached, timeout=BACKLOG_DEADLINE_S, interval=0.01)
        system.kill("indexer")

    def converged() -> bool:
        lagging = scalar(
            db,
            "SELECT count(*) FROM products p LEFT JOIN search.documents d ON d.product_id = p.id "
            "WHERE p.sku LIKE %s AND (d.product_id IS NULL OR d.core_version <> p.version OR d.name <> p.name)",
            f"{prefix}-%",
        )
        return lagging == 0

    wait_until(converged, timeout=BACKLOG_DEADLINE_S, interval=0.5)
    assert scalar(db, "SELECT count(*) FROM products WHERE sku LIKE %s AND version = 2", f"{prefix}-%") == products
    settings = CatalogSettings(
        database_url=endpoints.database_url, kafka_bootstrap_servers=endpoints.kafka_bootstrap_servers
    )
    ids = {row[0] for row in db.execute("SELECT id::text FROM products WHERE sku LIKE %s", (f"{prefix}-%",))}
    letters = [d for d in read(settings, "indexer", timeout=5) if (d.key or b"").decode() in ids]
    assert letters == []
