"""Running jobs share the importer: a small feed submitted after a huge one is not left waiting behind it.

The dispatcher runs in-process on a database of its own (no broker); jobs are offered to it as `import.requested`
events would offer them.
"""

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from catalog_importer.service_layer.dispatcher import Dispatcher
from tests.imports import ImportSetup, import_setup
from tests.support import wait_until

pytestmark = pytest.mark.integration


@pytest.fixture
def imports(fresh_database: str, tmp_path: Path) -> Iterator[ImportSetup]:
    with import_setup(fresh_database, tmp_path / "objects", max_import_bytes=10_000_000) as setup:
        yield setup


def feed(prefix: str, rows: int) -> bytes:
    return b"sku,name,price,currency\n" + b"".join(b"%s-%d,Tee,1.00,EUR\n" % (prefix.encode(), i) for i in range(rows))


@pytest.mark.parametrize("chunk_slots", [1, 2])
def test_a_small_feed_completes_while_a_large_one_submitted_before_it_still_runs(
    imports: ImportSetup, chunk_slots: int
) -> None:
    large = imports.upload(feed(f"L{uuid.uuid4().hex[:6]}", 50_000), name="large")["id"]
    small = imports.upload(feed(f"S{uuid.uuid4().hex[:6]}", 3 * imports.chunk_rows), name="small")["id"]
    claims = imports.claims()
    # With one chunk slot the importer writes one chunk at a time: only taking turns lets the small job in.
    dispatcher = Dispatcher(
        claims, imports.runner(claims, chunk_slots=chunk_slots), max_jobs=2, heartbeat_interval_s=0.5
    )
    try:
        assert dispatcher.offer(uuid.UUID(large))
        wait_until(lambda: imports.job(large)["rows"]["processed"] > 0, timeout=60)
        assert dispatcher.offer(uuid.UUID(small))

        done = wait_until(lambda: (job := imports.job(small))["state"] != "PROCESSING" and job, timeout=120)
        assert done["state"] == "COMPLETED"
        assert done["rows"]["created"] == 3 * imports.chunk_rows
        running = imports.job(large)
        assert running["state"] == "PROCESSING"  # the small one finished first, though submitted after
        assert 0 < running["rows"]["processed"] < 50_000
    finally:
        dispatcher.shutdown(timeout=60)  # the large job stops at a chunk boundary and is handed back
    assert dispatcher.running() == []
    handed_back = imports.job(large)
    assert handed_back["state"] == "PENDING"
    assert handed_back["rows"]["processed"] % imports.chunk_rows == 0  # whole chunks only
