"""The search index survives kill -9 of its writer: no corrupt index, no lost update, and it resumes where its
last commit says; a rebuild replaces a generation while searches go on; an index of another read model is rebuilt.

The writer runs as a real process (the follower the indexer runs), against a database of its own.
"""

import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text

from catalog_indexer.adapters.read_model import SearchDocuments
from catalog_indexer.adapters.search_index import IndexGenerations, SearchIndex, current_generation
from catalog_indexer.domain.document import CorePart, Tombstone
from catalog_indexer.domain.search_query import SearchQuery
from catalog_indexer.service_layer.index_follower import IndexFollower
from catalog_kit.db import make_engine
from tests.support import wait_until

FOLLOW = """
import threading
from catalog_indexer.adapters.read_model import SearchDocuments
from catalog_indexer.entrypoints.bootstrap import index_follower
from catalog_indexer.settings import IndexerSettings
from catalog_kit.db import make_engine
settings = IndexerSettings()
index_follower(settings, SearchDocuments(make_engine(settings.database_url, 2))).run(threading.Event(), 0.05)
"""


def product(pid: str, version: int, n: int, name: str) -> CorePart:
    return CorePart.from_snapshot(
        {
            "id": pid,
            "sku": f"REC-{n}",
            "name": name,
            "brand": "Recovera",
            "description": None,
            "price": "10.00",
            "currency": "EUR",
            "status": "active",
            "variants": [],
            "version": version,
            "created_at": "2026-12-01T10:00:00+00:00",
            "updated_at": "2026-12-01T10:00:00+00:00",
        }
    )


@pytest.fixture
def own_engine(fresh_database: str) -> Iterator[Engine]:
    engine = make_engine(fresh_database, 2)
    yield engine
    engine.dispose()


def follower_process(database_url: str, root: Path, chunk: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "DATABASE_URL": database_url, "SEARCH_INDEX_DIR": str(root)}
    env["SEARCH_INDEX_CHUNK"] = str(chunk)
    return subprocess.Popen([sys.executable, "-c", FOLLOW], env=env, stderr=subprocess.DEVNULL)


def stop(process: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
    if process.poll() is None:
        os.kill(process.pid, sig)
    process.wait(timeout=30)


def live_rows(engine: Engine, up_to: int | None = None) -> int:
    sql = "SELECT count(*) FROM search.documents WHERE NOT deleted AND core_version > 0"
    with engine.connect() as conn:
        if up_to is None:
            return int(conn.execute(text(sql)).scalar_one())
        return int(conn.execute(text(sql + " AND change <= :n"), {"n": up_to}).scalar_one())


def indexed(index: SearchIndex, **query: Any) -> int:
    return index.search(SearchQuery(**{"text": None, "status": None, **query})).total


def test_a_killed_writer_leaves_a_consistent_index_and_its_successor_loses_nothing(
    own_engine: Engine, fresh_database: str, tmp_path: Path
) -> None:
    documents = SearchDocuments(own_engine)
    pids = [str(uuid.uuid4()) for _ in range(12_000)]
    documents.apply_many([product(pid, 1, n, f"Lantern {n}") for n, pid in enumerate(pids[:2000])])
    first = IndexFollower(documents, IndexGenerations(tmp_path))
    first.catch_up()  # a published generation with a position, as a running indexer leaves it
    assert first.writer is not None
    first.writer.close()
    for offset in range(2000, len(pids), 2000):
        documents.apply_many(
            [product(pid, 1, offset + n, f"Lantern {offset + n}") for n, pid in enumerate(pids[offset : offset + 2000])]
        )
    last = documents.last_change()
    index = SearchIndex(tmp_path)
    start = index.position()

    writer = follower_process(fresh_database, tmp_path, chunk=200)
    try:
        killed_at = wait_until(lambda: (p := index.position()) > start and p, timeout=60, interval=0.01)
        os.kill(writer.pid, signal.SIGKILL)
    finally:
        stop(writer, signal.SIGKILL)
    # What the last commit says is what the index holds: every row up to its position, nothing after it.
    position = index.position()
    assert start < position < last, (start, killed_at, position, last)
    assert indexed(index) == live_rows(own_engine, up_to=position)

    # Changes while no writer runs: an update, a deletion, a new product.
    documents.apply_many([product(pids[5], 2, 5, "Lantern renamed"), Tombstone(pids[6], 2)])
    documents.apply_many([product(str(uuid.uuid4()), 1, 99_999, "Lantern latecomer")])
    successor = follower_process(fresh_database, tmp_path, chunk=2000)
    try:
        final = documents.last_change()
        wait_until(lambda: index.position() == final, timeout=120, interval=0.05)
    finally:
        stop(successor)
    assert indexed(index) == live_rows(own_engine) == len(pids)  # one deleted, one added
    assert index.search(SearchQuery(text="REC-5")).hits[0].name == "Lantern renamed"
    assert all(h.sku != "REC-6" for h in index.search(SearchQuery(text="REC-6", limit=100)).hits)
    assert index.search(SearchQuery(text="latecomer")).hits[0].sku == "REC-99999"


def test_a_rebuild_replaces_the_generation_while_searches_go_on(own_engine: Engine, tmp_path: Path) -> None:
    documents = SearchDocuments(own_engine)
    documents.apply_many([product(str(uuid.uuid4()), 1, n, f"Beacon {n}") for n in range(300)])
    follower = IndexFollower(documents, IndexGenerations(tmp_path), chunk=100)
    follower.catch_up()
    index = SearchIndex(tmp_path)
    before = current_generation(tmp_path)
    assert indexed(index, text="beacon") == 300

    seen: list[tuple[int, int, float]] = []
    IndexFollower(documents, IndexGenerations(tmp_path), chunk=100).rebuild(lambda *p: seen.append(p))
    assert indexed(index, text="beacon") == 300  # the new generation, opened by the reader on its next query
    assert current_generation(tmp_path) != before
    assert before is not None
    assert not before.exists()  # the old generation is removed
    assert seen
    assert seen[-1][0] == documents.last_change()  # progress reached the read model's last change
    # The follower notices the new generation and goes on from its position.
    documents.apply_many([product(str(uuid.uuid4()), 1, 500, "Beacon late")])
    follower.catch_up()
    assert indexed(index, text="beacon") == 301
    assert follower.writer is not None
    assert follower.writer.path == current_generation(tmp_path)
    follower.writer.close()


def test_an_index_of_another_read_model_is_rebuilt(engine: Engine, own_engine: Engine, tmp_path: Path) -> None:
    """A database made anew (or restored) must not be followed from the old index's position."""
    SearchDocuments(own_engine).apply_many([product(str(uuid.uuid4()), 1, n, f"Ember {n}") for n in range(5)])
    own = IndexFollower(SearchDocuments(own_engine), IndexGenerations(tmp_path))
    own.catch_up()
    assert own.writer is not None
    own.writer.close()
    other = IndexFollower(SearchDocuments(engine), IndexGenerations(tmp_path))
    other.catch_up()
    assert other.writer is not None
    other.writer.close()
    assert indexed(SearchIndex(tmp_path), text="ember", brand="recovera") == 0  # none of the other one's products


def test_catalog_search_reindex_rebuilds_with_progress(own_engine: Engine, fresh_database: str, tmp_path: Path) -> None:
    documents = SearchDocuments(own_engine)
    documents.apply_many([product(str(uuid.uuid4()), 1, n, f"Torch {n}") for n in range(2500)])
    env = {
        **os.environ,
        "DATABASE_URL": fresh_database,
        "SEARCH_INDEX_DIR": str(tmp_path),
        "SEARCH_INDEX_CHUNK": "1000",
    }
    command = [str(Path(sys.executable).parent / "catalog-search"), "reindex"]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120, check=True)
    lines = done.stdout.splitlines()
    assert [line.split()[0] for line in lines[:3]] == ["40.0%", "80.0%", "100.0%"]
    assert lines[-1].startswith("search index rebuilt: ")
    assert indexed(SearchIndex(tmp_path), text="torch") == 2500


def test_urgent_products_are_applied_ahead_of_the_position_without_moving_it(
    own_engine: Engine, tmp_path: Path
) -> None:
    documents = SearchDocuments(own_engine)
    pids = [str(uuid.uuid4()) for _ in range(3)]
    documents.apply_many([product(pid, 1, n, f"Flare {n}") for n, pid in enumerate(pids)])
    follower = IndexFollower(documents, IndexGenerations(tmp_path))
    follower.catch_up()
    index = SearchIndex(tmp_path)
    before = index.position()
    # A bulk change first, then a shopper's edit: the edit is applied at once, the bulk change when followed.
    documents.apply_many([product(pids[0], 2, 0, "Flare bulk")])
    documents.apply_many([product(pids[1], 2, 1, "Flare urgent"), Tombstone(pids[2], 2)])
    follower.wake(urgent=[pids[1], pids[2]])
    assert follower.expedite() == 2
    assert index.position() == before  # what was skipped over is still ahead of the position
    assert index.search(SearchQuery(text="REC-1")).hits[0].name == "Flare urgent"
    assert indexed(index, text="flare") == 2  # the deleted one is gone; the bulk change not applied yet
    assert index.search(SearchQuery(text="REC-0")).hits[0].name == "Flare 0"
    follower.catch_up()
    assert index.position() == documents.last_change()
    assert index.search(SearchQuery(text="REC-0")).hits[0].name == "Flare bulk"
    assert index.search(SearchQuery(text="REC-1")).hits[0].name == "Flare urgent"
    assert follower.writer is not None
    follower.writer.close()


def test_bulk_rows_wait_for_the_commit_interval_and_an_urgent_product_takes_them_along(
    own_engine: Engine, tmp_path: Path
) -> None:
    documents = SearchDocuments(own_engine)
    pids = [str(uuid.uuid4()) for _ in range(4)]
    documents.apply_many([product(pids[0], 1, 0, "Beacon 0")])
    follower = IndexFollower(documents, IndexGenerations(tmp_path), commit_every_s=3600)
    follower.catch_up()  # without `defer`: everything committed
    index = SearchIndex(tmp_path)
    before = index.position()
    documents.apply_many([product(pid, 1, n, f"Beacon {n}") for n, pid in enumerate(pids[1:3], start=1)])
    bulk = documents.last_change()
    follower.catch_up(defer=True)  # as the follower's loop does: staged, waiting for the interval
    assert index.position() == before
    assert indexed(index, text="beacon") == 1
    documents.apply_many([product(pids[3], 1, 3, "Beacon urgent")])
    follower.wake(urgent=[pids[3]])
    follower.catch_up(defer=True)  # the urgent product is committed at once, with the staged bulk rows
    assert index.position() == bulk  # the urgent product's change is still ahead of the position
    assert indexed(index, text="beacon") == 4
    follower.catch_up()
    assert index.position() == documents.last_change()
    assert follower.writer is not None
    follower.writer.close()


def test_rows_removed_from_the_read_model_do_not_make_the_index_look_foreign(
    own_engine: Engine, tmp_path: Path
) -> None:
    documents = SearchDocuments(own_engine)
    pids = [str(uuid.uuid4()) for _ in range(3)]
    documents.apply_many([product(pid, 1, n, f"Glow {n}") for n, pid in enumerate(pids)])
    first = IndexFollower(documents, IndexGenerations(tmp_path))
    first.catch_up()
    assert first.writer is not None
    first.writer.close()
    generation = current_generation(tmp_path)
    with own_engine.begin() as conn:  # the newest rows removed by hand: the highest change number drops
        conn.execute(text("DELETE FROM search.documents WHERE change = (SELECT max(change) FROM search.documents)"))
    assert documents.last_change() < SearchIndex(tmp_path).position()
    second = IndexFollower(documents, IndexGenerations(tmp_path))
    second.catch_up()
    assert current_generation(tmp_path) == generation  # followed on, not rebuilt
    assert second.writer is not None
    second.writer.close()
