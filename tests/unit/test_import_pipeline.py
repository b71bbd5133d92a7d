"""Chunks in flight: the order a job's chunks read and commit in, and the turns running jobs take."""

import threading
from collections.abc import Callable
from functools import partial

import pytest

from catalog_importer.domain.tally import Tally
from catalog_importer.service_layer.pipeline import Abandoned, Baton, ChunkTurns
from tests.support import wait_until

DONE = Tally(processed=10, created=10)


def in_thread(target: Callable[[], object]) -> threading.Thread:
    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread


def test_the_first_chunk_starts_from_the_counts_of_the_run() -> None:
    baton = Baton.committed_with(DONE)
    baton.wait_readable(frozenset({"a"}))
    assert baton.tally() == DONE


def test_a_chunk_reads_at_once_after_one_that_only_creates_other_products() -> None:
    before = Baton({"a", "a-s"})
    before.read(creates_only=True)
    reader = in_thread(lambda: before.wait_readable(frozenset({"b", "b-s"})))
    reader.join(timeout=30)
    assert not reader.is_alive()  # returned although `before` has not committed


@pytest.mark.parametrize(("creates_only", "keys"), [(True, {"a-s", "c"}), (False, {"c"})])
def test_a_chunk_waits_for_the_commit_of_one_sharing_a_sku_or_updating(creates_only: bool, keys: set[str]) -> None:
    before = Baton({"a", "a-s"})
    before.read(creates_only=creates_only)
    events: list[str] = []

    def read() -> None:
        before.wait_readable(frozenset(keys))
        events.append("read")

    reader = in_thread(read)
    events.append("commit")
    before.commit(DONE)
    reader.join(timeout=30)
    assert events == ["commit", "read"]


def test_a_chunk_after_one_that_did_not_commit_is_abandoned() -> None:
    before = Baton({"a"})
    before.abandon()
    with pytest.raises(Abandoned):
        before.wait_readable(frozenset({"a"}))
    with pytest.raises(Abandoned):
        before.tally()


def test_turns_are_given_in_the_order_they_were_asked_for() -> None:
    turns = ChunkTurns(1)
    turns.acquire()  # a chunk of some job holds the only slot
    served: list[str] = []

    def job(name: str) -> None:
        turns.acquire()
        served.append(name)
        turns.release()

    threads = []
    for i, name in enumerate(["large", "small", "large again"]):
        threads.append(in_thread(partial(job, name)))
        wait_until(partial(lambda n: turns.queued == n, i + 1), timeout=30)
    turns.release()
    for thread in threads:
        thread.join(timeout=30)
    assert served == ["large", "small", "large again"]


def test_a_job_alone_uses_every_slot() -> None:
    turns = ChunkTurns(2)
    turns.acquire()
    turns.acquire()  # both at once: its chunks overlap
    assert turns.queued == 0
    turns.release()
    turns.release()
