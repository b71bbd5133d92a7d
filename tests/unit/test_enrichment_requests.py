"""Which products are reported to the enricher, and when a flush is due (the write itself is tested in
tests/integration/test_enrichment_queue.py)."""

import threading
from typing import Any, cast

from sqlalchemy.orm import Session

from catalog_kit.enrichment_requests import EnrichmentRequests
from catalog_kit.outbox import OutboxWriter


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def requests(clock: Clock, limit: int = 1000, every_s: float = 1.0) -> EnrichmentRequests:
    # No database: note() never writes; flush() is not called here.
    return EnrichmentRequests(
        lambda: cast(Session, None), OutboxWriter("/t"), "searched", every_s=every_s, limit=limit, clock=clock
    )


def test_a_pending_product_makes_a_flush_due_and_nothing_else_does() -> None:
    reports = requests(Clock())
    assert reports.note([]) is False
    assert reports.note(["a", "b"]) is True
    assert reports.recently_reported("a")
    assert not reports.recently_reported("c")


def test_the_waiting_set_is_bounded() -> None:
    reports = requests(Clock(), limit=2)
    reports.note(["a", "b", "c", "d"])
    waiting: Any = reports._waiting
    assert list(waiting) == ["a", "b"]


def test_a_note_between_flushes_arms_one_timer_that_flushes_later() -> None:
    clock = Clock()
    reports = requests(clock, every_s=0.2)
    flushes: list[int] = []
    done = threading.Event()

    def flush() -> int:
        flushes.append(1)
        done.set()
        return 0

    reports.flush = flush  # type: ignore[method-assign]
    reports._last_flush = clock.now  # a flush just happened: the next is due in 0.2 s
    assert reports.note(["a"]) is False
    timer = reports._timer
    assert timer is not None
    assert reports.note(["b"]) is False
    assert reports._timer is timer  # one timer at a time
    assert done.wait(30)  # fires by itself, with nobody noting anything more
    threading.Thread.join(timer, 30)
    assert flushes == [1]
    assert reports._timer is None
