"""Priorities and backpressure of enrichment work as pure rules, and the work loop over an in-memory queue (the real
queue, its claim order and leases are tested in tests/integration/test_enrichment_queue.py)."""

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest

from catalog_enricher.adapters.catalog_store import SaveOutcome
from catalog_enricher.adapters.provider import LocalProvider
from catalog_enricher.adapters.work_queue import ClaimedWork, QueueCounts, WorkRequest
from catalog_enricher.domain.facts import ProductFacts
from catalog_enricher.domain.priorities import (
    Admission,
    Backpressure,
    Priority,
    backlog_of,
    lane_of,
    priority_of_change,
)
from catalog_enricher.domain.rules import EnrichmentResult
from catalog_enricher.domain.taxonomy import Taxonomy
from catalog_enricher.service_layer.enrichment import Enricher
from catalog_enricher.service_layer.work import EnrichmentWork
from catalog_kit.envelope import EventEnvelope
from catalog_schemas import Lane


def test_interactive_changes_are_high_and_bulk_changes_normal() -> None:
    assert priority_of_change(Lane.INTERACTIVE) is Priority.HIGH
    assert priority_of_change(Lane.BULK) is Priority.NORMAL
    assert sorted([Priority.LOW, Priority.CRITICAL, Priority.NORMAL, Priority.HIGH]) == [
        Priority.CRITICAL,
        Priority.HIGH,
        Priority.NORMAL,
        Priority.LOW,
    ]


def test_someone_waits_for_critical_and_high_work_only() -> None:
    assert [lane_of(p) for p in Priority] == [Lane.INTERACTIVE, Lane.INTERACTIVE, Lane.BULK, Lane.BULK]


def test_under_the_bound_everything_is_queued() -> None:
    pressure = Backpressure(bound=100)
    assert {pressure.admit(p, 99) for p in Priority} == {Admission.QUEUE}


def test_over_the_bound_low_is_parked_normal_slowed_and_urgent_work_queued() -> None:
    pressure = Backpressure(bound=100)
    assert [pressure.admit(p, 100) for p in Priority] == [
        Admission.QUEUE,
        Admission.QUEUE,
        Admission.SLOW,
        Admission.PARK,
    ]


def test_parked_work_is_released_below_the_resume_mark_without_crossing_the_bound() -> None:
    pressure = Backpressure(bound=100, resume_ratio=0.5)
    assert pressure.releasable(backlog=50, parked=500, batch=500) == 0  # not yet below half
    assert pressure.releasable(backlog=49, parked=500, batch=500) == 51  # up to the bound, not beyond
    assert pressure.releasable(backlog=0, parked=500, batch=20) == 20
    assert pressure.releasable(backlog=0, parked=3, batch=20) == 3
    assert pressure.releasable(backlog=0, parked=0, batch=20) == 0
    assert backlog_of({Priority.HIGH: 2, Priority.LOW: 5}) == 7


def snapshot(product_id: str, version: int = 1, name: str = "Linen tee") -> dict[str, Any]:
    return {"id": product_id, "version": version, "sku": f"SKU-{product_id}", "name": name, "price": "9.90",
            "currency": "EUR"}  # fmt: skip


@dataclass
class MemoryQueue:
    """The queue's contract in memory: one row per product, most urgent priority wins, claims in priority order."""

    rows: dict[str, dict[str, Any]] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)
    retried: list[str] = field(default_factory=list)
    seq: int = 0

    def enqueue_many(self, requests: Sequence[WorkRequest]) -> None:
        for r in requests:
            self.seq += 1
            row = self.rows.setdefault(
                r.product_id, {"priority": r.priority, "state": "parked" if r.parked else "queued", "seq": self.seq}
            )
            row["priority"] = min(row["priority"], r.priority)
            if not r.parked:
                row["state"] = "queued"

    def claim(self, limit: int) -> list[ClaimedWork]:
        ready = sorted(
            (row["priority"], row["seq"], pid)
            for pid, row in self.rows.items()
            if row["state"] == "queued" and not row.get("claimed")
        )[:limit]
        for _, _, pid in ready:
            self.rows[pid]["claimed"] = True
            self.rows[pid]["attempts"] = self.rows[pid].get("attempts", 0) + 1
        return [
            ClaimedWork(pid, Priority(p), 1, self.rows[pid]["attempts"], "test", None, datetime.now(UTC))
            for p, _, pid in ready
        ]

    def done(self, work: Sequence[ClaimedWork]) -> None:
        for w in work:
            self.rows.pop(w.product_id, None)

    def retry_later(self, work: ClaimedWork, after_s: float, error: str) -> None:
        self.retried.append(work.product_id)
        self.rows[work.product_id]["claimed"] = False

    def fail(self, work: ClaimedWork, error: str) -> None:
        self.failed[work.product_id] = error
        self.rows[work.product_id]["state"] = "failed"

    def counts(self) -> QueueCounts:
        pending = {p: 0 for p in Priority}
        for row in self.rows.values():
            if row["state"] == "queued":
                pending[row["priority"]] += 1
        return QueueCounts(pending, sum(1 for r in self.rows.values() if r["state"] == "parked"), len(self.failed))

    def release_parked(self, limit: int) -> int:
        parked = [pid for pid, row in self.rows.items() if row["state"] == "parked"][:limit]
        for pid in parked:
            self.rows[pid]["state"] = "queued"
        return len(parked)

    def queue_degraded(self, limit: int, parked: bool) -> int:
        return 0


@dataclass
class RecordingStore:
    """Current facts of every product asked for; saves record their order. `broken` products raise on save."""

    saved: list[str] = field(default_factory=list)
    broken: set[str] = field(default_factory=set)

    def current_facts_many(self, product_ids: Sequence[str]) -> dict[str, ProductFacts]:
        return {pid: ProductFacts.from_snapshot(snapshot(pid)) for pid in product_ids}

    def save_many(
        self, results: Sequence[EnrichmentResult], lane: Lane, traceparents: Sequence[str | None] = ()
    ) -> list[SaveOutcome]:
        if self.broken & {r.product_id for r in results}:
            raise ValueError("a result the store refuses")
        self.saved.extend(r.product_id for r in results)
        return [SaveOutcome.SAVED] * len(results)


def make_work(queue: MemoryQueue, store: RecordingStore, bound: int = 1000, batch: int = 2) -> EnrichmentWork:
    enricher = Enricher(store=store, provider=LocalProvider(), taxonomy=Taxonomy.default())
    return EnrichmentWork(queue, store, enricher, Backpressure(bound), batch=batch, max_attempts=2)


def test_the_work_loop_does_the_most_urgent_work_first() -> None:
    queue, store = MemoryQueue(), RecordingStore()
    work = make_work(queue, store)

    async def scenario() -> None:
        await work.request(["low-1", "low-2"], Priority.LOW, "refresh")
        await work.request_changes([EventEnvelope(type="product.created", source="/t", subject="n", data=snapshot("n"),
                                                  lane=Lane.BULK)])  # fmt: skip
        await work.request_changes([EventEnvelope(type="product.updated", source="/t", subject="h", data=snapshot("h"),
                                                  lane=Lane.INTERACTIVE)])  # fmt: skip
        await work.request(["low-2"], Priority.CRITICAL, "searched")  # a queued low item jumps the line
        await work.tick()

    counted: list[SaveOutcome] = []
    work.enriched = counted.extend
    asyncio.run(scenario())
    assert store.saved == ["low-2", "h", "n", "low-1"]
    assert counted == [SaveOutcome.SAVED] * 4
    assert queue.rows == {}


def test_over_the_bound_low_work_is_parked_then_released_and_bulk_is_slowed() -> None:
    queue, store = MemoryQueue(), RecordingStore()
    work = make_work(queue, store, bound=2, batch=10)
    pauses: list[float] = []
    shed: list[tuple[str, int]] = []

    async def pause(seconds: float) -> None:
        pauses.append(seconds)

    work.sleep, work.shed = pause, lambda action, n: shed.append((action, n))

    async def scenario() -> None:
        await work.request(["a", "b"], Priority.HIGH, "change")
        await work.refresh_counts()
        await work.request(["parked"], Priority.LOW, "refresh")
        assert queue.counts().parked == 1
        bulk = EventEnvelope(type="product.created", source="/t", subject="c", data=snapshot("c"), lane=Lane.BULK)
        await work.request_changes([bulk])
        assert pauses == [work.slow_s]  # slowed, not dropped
        await work.tick()  # enriches a, b, c; the parked item is still held back during this tick
        await work.tick()  # the backlog is gone: the parked item is released and enriched

    asyncio.run(scenario())
    assert store.saved[:3] == ["a", "b", "c"]
    assert store.saved[3:] == ["parked"]
    assert ("parked", 1) in shed
    assert ("slowed", 1) in shed
    assert ("released", 1) in shed


def test_a_product_that_keeps_failing_is_isolated_retried_then_failed() -> None:
    queue, store = MemoryQueue(), RecordingStore(broken={"bad"})
    work = make_work(queue, store, batch=10)

    async def scenario() -> None:
        await work.request(["good", "bad"], Priority.NORMAL, "change")
        await work.tick()
        await work.tick()

    asyncio.run(scenario())
    assert store.saved == ["good"]
    assert queue.retried == ["bad"]
    assert list(queue.failed) == ["bad"]
    assert "refuses" in queue.failed["bad"]


@pytest.mark.parametrize("bound", [1, 5])
def test_urgent_work_is_never_held_back(bound: int) -> None:
    queue, store = MemoryQueue(), RecordingStore()
    work = make_work(queue, store, bound=bound)
    pauses: list[float] = []

    async def pause(seconds: float) -> None:
        pauses.append(seconds)

    work.sleep = pause

    async def scenario() -> None:
        await work.request([f"x{i}" for i in range(10)], Priority.NORMAL, "import")
        await work.refresh_counts()
        event = EventEnvelope(type="product.updated", source="/t", subject="h", data=snapshot("h"),
                              lane=Lane.INTERACTIVE)  # fmt: skip
        await work.request_changes([event])
        await work.request(["c"], Priority.CRITICAL, "searched")

    asyncio.run(scenario())
    assert pauses == []
    assert queue.rows["h"]["state"] == queue.rows["c"]["state"] == "queued"


def test_requests_from_searches_come_first() -> None:
    queue, store = MemoryQueue(), RecordingStore()
    work = make_work(queue, store, batch=10)

    def asked(product_id: str, priority: str) -> EventEnvelope:
        data = {
            "product_id": product_id,
            "priority": priority,
            "reason": "searched",
            "requested_at": "2026-01-01T00:00:00Z",
        }
        return EventEnvelope(type="enrichment.requested", source="/t", subject=product_id, data=data)

    async def scenario() -> None:
        await work.request(["old"], Priority.NORMAL, "import")
        await work.requested([asked("found", "critical"), asked("later", "low")])
        await work.tick()

    asyncio.run(scenario())
    assert store.saved == ["found", "old", "later"]


def test_queued_work_that_stops_moving_is_a_readiness_problem() -> None:
    queue, store = MemoryQueue(), RecordingStore()
    work = make_work(queue, store)
    now = [0.0]
    work.clock = lambda: now[0]
    work.stall_after_s = 60

    async def scenario() -> None:
        await work.request(["a"], Priority.HIGH, "change")
        await work.refresh_counts()

    asyncio.run(scenario())
    assert work.stalled() is None
    now[0] = 61.0
    problem = work.stalled()
    assert problem is not None
    assert "1 queued" in problem
    asyncio.run(work.tick())  # done: moving again, and nothing waits
    assert work.stalled() is None
