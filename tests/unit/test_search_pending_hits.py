"""Which hits a search reports to the enricher, and when a flush is due (the write itself is tested in
tests/integration/test_enrichment_queue.py)."""

from typing import Any, cast

from sqlalchemy import Engine

from catalog_indexer.adapters.pending_hits import PendingHits
from catalog_kit.outbox import OutboxWriter


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def hits(clock: Clock, limit: int = 1000) -> PendingHits:
    # The engine is never touched by note(); flush() is not called here.
    return PendingHits(cast(Engine, None), OutboxWriter("/t"), every_s=1.0, quiet_s=60.0, limit=limit, clock=clock)


def test_a_pending_hit_makes_a_flush_due_and_nothing_else_does() -> None:
    reports = hits(Clock())
    assert reports.note([]) is False
    assert reports.note(["a", "b"]) is True


def test_the_waiting_set_is_bounded() -> None:
    reports = hits(Clock(), limit=2)
    reports.note(["a", "b", "c", "d"])
    waiting: Any = reports._waiting
    assert list(waiting) == ["a", "b"]
