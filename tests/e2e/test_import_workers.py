"""Importer processes on a database of their own: killed mid-feed, stopped, and two of them side by side.

The jobs are submitted through the API in-process; no relay serves this database, so the importers find the jobs
with their watchdog sweep — the path that recovers jobs whose event was lost or whose worker died.
"""

import os
import signal
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from catalog_core.adapters.imports import import_rows
from catalog_core.adapters.tables import products
from catalog_kit.outbox import outbox
from catalog_stack.infra import Endpoints
from catalog_stack.processes import ManagedProcess, is_alive
from catalog_stack.services import bin_path
from tests.feeds import owner_of, supplier_feed
from tests.imports import ADMIN, ImportSetup, import_setup
from tests.support import wait_until

pytestmark = pytest.mark.e2e


@pytest.fixture
def imports(fresh_database: str, tmp_path: Path) -> Iterator[ImportSetup]:
    with import_setup(fresh_database, tmp_path / "objects") as setup:
        yield setup


@pytest.fixture
def importer_env(fresh_database: str, endpoints: Endpoints, tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": fresh_database,
        "KAFKA_BOOTSTRAP_SERVERS": endpoints.kafka_bootstrap_servers,
        "OBJECT_STORE_DIR": str(tmp_path / "objects"),
        "IMPORT_CHUNK_ROWS": "100",
        "IMPORT_MAX_JOBS": "1",
        "IMPORT_HEARTBEAT_INTERVAL_S": "0.5",
        "IMPORT_STALE_AFTER_S": "3",
        "IMPORT_WATCHDOG_INTERVAL_S": "0.5",
        "LOG_LEVEL": "INFO",
    }


@pytest.fixture
def start_importer(importer_env: dict[str, str], tmp_path: Path) -> Iterator[Callable[[str], ManagedProcess]]:
    """Starts `catalog-importer` processes; whatever still runs is stopped at the end."""
    started: list[ManagedProcess] = []

    def start(name: str) -> ManagedProcess:
        process = ManagedProcess(name, tmp_path / "run", tmp_path / "log")
        process.start([bin_path("catalog-importer")], env=importer_env, cwd=tmp_path)
        started.append(process)
        return process

    yield start
    for process in started:
        process.stop()


def submit(imports: ImportSetup, prefix: str, rows: int) -> tuple[str, Any]:
    feed = supplier_feed(prefix, f"Brand {prefix}", rows=rows)
    for sku in feed.taken_skus:
        assert imports.api.post("/products", json=owner_of(sku)).status_code == 201
    return imports.upload(feed.csv())["id"], feed


def state(imports: ImportSetup, job_id: str) -> dict[str, Any]:
    return imports.job(job_id)


def assert_imported_once(imports: ImportSetup, job_id: str, feed: Any) -> None:
    """Every row in the ledger once, the bad ones failed, every product created once and never revised."""
    job = imports.job(job_id)
    assert job["state"] == "COMPLETED_WITH_ERRORS", job
    assert job["rows"]["processed"] == job["rows"]["total"] == len(feed.rows)
    assert {r["row"]: r["category"] for r in imports.rows(job_id, "failed")} == feed.bad
    with imports.sessions() as s:
        ledger = s.execute(
            select(func.count()).select_from(import_rows).where(import_rows.c.job_id == uuid.UUID(job_id))
        ).scalar_one()
        assert ledger == len(feed.rows)
        created = s.execute(
            select(outbox.c.aggregate_id, func.count())
            .where(outbox.c.event_type == "product.created")
            .group_by(outbox.c.aggregate_id)
        ).all()
        assert all(n == 1 for _, n in created)
        assert s.execute(select(func.max(products.c.version))).scalar_one() == 1
    assert set(imports.products(feed.brand)) == feed.product_skus - {
        r["product_sku"] for r in imports.rows(job_id, "failed")
    } - set(feed.missing_products)


def test_an_importer_killed_mid_feed_resumes_after_its_last_committed_chunk(
    imports: ImportSetup, start_importer: Callable[[str], ManagedProcess]
) -> None:
    job_id, feed = submit(imports, f"K{uuid.uuid4().hex[:8]}", rows=20_000)
    first = start_importer("importer-1")
    wait_until(lambda: state(imports, job_id)["rows"]["processed"] >= 2_000, timeout=90, interval=0.02)
    pid = first.pid()
    assert pid is not None
    os.killpg(pid, signal.SIGKILL)
    wait_until(lambda: not is_alive(pid), timeout=10)
    killed = state(imports, job_id)
    assert killed["state"] == "PROCESSING"  # nobody told the database: only the heartbeat stops
    assert 0 < killed["rows"]["processed"] < 20_000
    with imports.sessions() as s:  # what was committed is exactly what the progress says
        assert s.execute(select(func.count()).select_from(import_rows)).scalar_one() == killed["rows"]["processed"]

    start_importer("importer-2")
    job = wait_until(lambda: (j := state(imports, job_id))["state"] != "PROCESSING" and j, timeout=120, interval=0.2)
    assert job["attempts"] == 2  # the dead worker's claim, then the take-over
    assert_imported_once(imports, job_id, feed)


def test_sigterm_hands_the_running_job_back_for_another_importer(
    imports: ImportSetup, start_importer: Callable[[str], ManagedProcess]
) -> None:
    job_id, feed = submit(imports, f"T{uuid.uuid4().hex[:8]}", rows=20_000)
    first = start_importer("importer-1")
    wait_until(lambda: state(imports, job_id)["rows"]["processed"] >= 1_000, timeout=90, interval=0.02)
    pid = first.pid()
    assert pid is not None
    os.killpg(pid, signal.SIGTERM)
    wait_until(lambda: not is_alive(pid), timeout=30)
    handed_back = state(imports, job_id)
    assert handed_back["state"] == "PENDING"  # back in the queue at once, not left for the watchdog
    assert handed_back["attempts"] == 0  # a clean stop costs the job no attempt
    assert 0 < handed_back["rows"]["processed"] < 20_000

    start_importer("importer-2")
    wait_until(lambda: state(imports, job_id)["state"] == "COMPLETED_WITH_ERRORS", timeout=120, interval=0.2)
    assert state(imports, job_id)["attempts"] == 1
    assert_imported_once(imports, job_id, feed)


def test_two_importers_never_run_the_same_job(
    imports: ImportSetup, start_importer: Callable[[str], ManagedProcess]
) -> None:
    jobs = [submit(imports, f"D{i}{uuid.uuid4().hex[:6]}", rows=6_000) for i in range(4)]
    for i in range(2):
        start_importer(f"importer-{i}")

    def all_done() -> bool:
        return all(state(imports, job_id)["state"] == "COMPLETED_WITH_ERRORS" for job_id, _ in jobs)

    wait_until(all_done, timeout=180, interval=0.2)
    for job_id, feed in jobs:
        assert state(imports, job_id)["attempts"] == 1  # claimed once: never taken by the other importer
        assert_imported_once(imports, job_id, feed)
    # Both took jobs, one at a time. Which worker ran a job is shown to admin keys only.
    workers = {imports.api.get(f"/imports/{job_id}", headers=ADMIN).json()["worker"] for job_id, _ in jobs}
    assert len(workers) == 2
