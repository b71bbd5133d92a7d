"""Enrichment work by priority: the consumer queues what the product events ask for, workers claim the most urgent
work first, and new work is parked or slowed while the backlog is over its bound."""

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from catalog_enricher.adapters.catalog_store import SaveOutcome
from catalog_enricher.adapters.work_queue import ClaimedWork, QueueCounts, WorkRequest
from catalog_enricher.domain.batches import Change, latest_per_product
from catalog_enricher.domain.facts import ProductFacts
from catalog_enricher.domain.priorities import Admission, Backpressure, Priority, lane_of, priority_of_change
from catalog_enricher.service_layer.enrichment import ENRICHED_TYPES, Enricher
from catalog_kit.envelope import EventEnvelope
from catalog_kit.outages import is_database_outage

log = logging.getLogger("catalog_enricher")


class WorkQueue(Protocol):
    def enqueue_many(self, requests: Sequence[WorkRequest]) -> None: ...

    def claim(self, limit: int) -> list[ClaimedWork]: ...

    def done(self, work: Sequence[ClaimedWork]) -> None: ...

    def retry_later(self, work: ClaimedWork, after_s: float, error: str) -> None: ...

    def fail(self, work: ClaimedWork, error: str) -> None: ...

    def counts(self) -> QueueCounts: ...

    def release_parked(self, limit: int) -> int: ...

    def queue_degraded(self, limit: int, parked: bool) -> int: ...


class FactsSource(Protocol):
    def current_facts_many(self, product_ids: Sequence[str]) -> dict[str, ProductFacts]: ...


def _no_shed(action: str, count: int) -> None:
    return None


@dataclass
class EnrichmentWork:
    queue: WorkQueue
    facts: FactsSource
    enricher: Enricher
    backpressure: Backpressure
    batch: int = 500
    max_attempts: int = 5
    batches_per_tick: int = 20  # a tick returns now and then, so counts and parked work are looked at again
    slow_s: float = 0.5
    retry_after_s: float = 30.0
    degraded_every_s: float = 30.0
    # Degraded results are retried only while the provider answers: retrying into an open breaker degrades again.
    provider_available: Callable[[], bool] = lambda: True
    shed: Callable[[str, int], None] = _no_shed  # counts what backpressure did: parked, slowed, released
    enriched: Callable[[Sequence[SaveOutcome]], None] = lambda outcomes: None  # each batch's outcomes, counted
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    clock: Callable[[], float] = time.monotonic
    counts: QueueCounts = field(default_factory=QueueCounts)
    stall_after_s: float = 60.0
    _next_degraded_scan: float = 0.0
    _last_progress: float | None = None

    def stalled(self) -> str | None:
        """Why the work loop counts as stalled (work waits and none was finished for `stall_after_s`), or None."""
        now = self.clock()
        if self._last_progress is None:
            self._last_progress = now
        idle = now - self._last_progress
        if self.counts.backlog > 0 and idle > self.stall_after_s:
            return f"enrichment stalled: {self.counts.backlog} queued and none done for {idle:.0f}s"
        return None

    async def request_changes(self, events: Sequence[EventEnvelope]) -> None:
        """The consumer's handler: queue one request per product the events change, high for the interactive lane,
        normal for bulk; bulk is slowed while the backlog is over the bound (the broker keeps the rest)."""
        changes = latest_per_product(
            Change(ProductFacts.from_snapshot(event.data), event.lane, event.id, event.traceparent)
            for event in events
            if event.type in ENRICHED_TYPES
        )
        requests = [WorkRequest(c.facts.id, priority_of_change(c.lane), "change", c.traceparent) for c in changes]
        normal = sum(1 for r in requests if r.priority is Priority.NORMAL)
        if normal and self.backpressure.admit(Priority.NORMAL, self.counts.backlog) is Admission.SLOW:
            self.shed("slowed", normal)
            await self.sleep(self.slow_s)
        await asyncio.to_thread(self.queue.enqueue_many, requests)

    async def requested(self, events: Sequence[EventEnvelope]) -> None:
        """The handler of `enrichment.requested` (e.g. critical: found by a search while pending)."""
        by_priority: dict[tuple[Priority, str], list[str]] = {}
        for event in events:
            if event.type == "enrichment.requested":
                key = (Priority[str(event.data["priority"]).upper()], str(event.data["reason"]))
                by_priority.setdefault(key, []).append(str(event.data["product_id"]))
        for (priority, reason), product_ids in sorted(by_priority.items()):
            await self.request(product_ids, priority, reason)

    async def request(self, product_ids: Sequence[str], priority: Priority, reason: str) -> None:
        """Ask for products to be enriched at `priority` (low work is parked while the backlog is over the bound)."""
        parked = self.backpressure.admit(priority, self.counts.backlog) is Admission.PARK
        if parked:
            self.shed("parked", len(product_ids))
        requests = [WorkRequest(product_id, priority, reason, parked=parked) for product_id in product_ids]
        await asyncio.to_thread(self.queue.enqueue_many, requests)

    async def refresh_counts(self) -> QueueCounts:
        self.counts = await asyncio.to_thread(self.queue.counts)
        return self.counts

    async def tick(self) -> int:
        """One round: look at the backlog, release parked work if there is room, queue degraded results again now
        and then, and enrich up to `batches_per_tick` batches of the most urgent work; returns how many products."""
        counts = await self.refresh_counts()
        if release := self.backpressure.releasable(counts.backlog, counts.parked, self.batch):
            released = await asyncio.to_thread(self.queue.release_parked, release)
            if released:
                self.shed("released", released)
                log.info("parked enrichment released", extra={"products": released, "backlog": counts.backlog})
        if self.clock() >= self._next_degraded_scan and self.provider_available():
            self._next_degraded_scan = self.clock() + self.degraded_every_s
            parked = self.backpressure.admit(Priority.LOW, counts.backlog) is Admission.PARK
            if queued := await asyncio.to_thread(self.queue.queue_degraded, self.batch, parked):
                log.info("degraded enrichments queued again", extra={"products": queued, "parked": parked})
        enriched = 0
        for _ in range(self.batches_per_tick):
            work = await asyncio.to_thread(self.queue.claim, self.batch)
            if not work:
                self._last_progress = self.clock()  # nothing claimable: idle, not stalled
                break
            enriched += await self.enrich(work)
            self._last_progress = self.clock()
        return enriched

    async def enrich(self, work: Sequence[ClaimedWork]) -> int:
        """Enrich the claimed products from their current facts and finish the claims. A database outage leaves the
        claims to run out (they are claimed again); any other failure is narrowed to the products that cause it."""
        try:
            current = await asyncio.to_thread(self.facts.current_facts_many, [w.product_id for w in work])
            changes = [
                Change(current[w.product_id], lane_of(w.priority), f"queue:{w.reason}", w.traceparent)
                for w in work
                if w.product_id in current
            ]
            # The batch log line's `events`: the requests these claims fold (several changes of a product queued
            # before it was claimed are one piece of work).
            outcomes = await self.enricher.enrich_changes(changes, sum(w.requests for w in work))
        except Exception as exc:
            if is_database_outage(exc):
                raise
            if len(work) > 1:
                return sum([await self.enrich([one]) for one in work])
            await asyncio.to_thread(self._give_up_or_retry, work[0], exc)
            return 0
        await asyncio.to_thread(self.queue.done, work)
        self.enriched(outcomes)
        return sum(1 for outcome in outcomes if outcome is not SaveOutcome.STALE)

    def _give_up_or_retry(self, work: ClaimedWork, exc: Exception) -> None:
        error = repr(exc)
        if work.attempts >= self.max_attempts:
            log.error(
                "enrichment failed", extra={"product_id": work.product_id, "attempts": work.attempts, "error": error}
            )
            self.queue.fail(work, error)
        else:
            log.warning(
                "enrichment will be retried",
                extra={"product_id": work.product_id, "attempts": work.attempts, "error": error},
            )
            self.queue.retry_later(work, self.retry_after_s, error)
