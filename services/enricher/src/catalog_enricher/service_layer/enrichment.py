"""Enriching product events, a batch at a time: compute from the events' facts, store only what is still current in
one transaction, recompute the rest from the current data."""

import asyncio
import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Protocol

from catalog_enricher.adapters.catalog_store import SaveOutcome
from catalog_enricher.adapters.provider import EnrichmentProvider, ProviderUnavailable
from catalog_enricher.domain.batches import Change, latest_per_product
from catalog_enricher.domain.facts import ProductFacts
from catalog_enricher.domain.rules import EnrichmentResult, enrich
from catalog_enricher.domain.taxonomy import Taxonomy
from catalog_kit.envelope import EventEnvelope
from catalog_schemas import Lane

log = logging.getLogger("catalog_enricher")

ENRICHED_TYPES = frozenset({"product.created", "product.updated"})
MAX_RECOMPUTES = 5  # a product rewritten faster than it can be enriched is left to its next event
LOOKUP_CONCURRENCY = 16  # provider lookups in flight at once: a slow provider overlaps, a batch cannot flood it


class EnrichmentRecords(Protocol):
    """Where enrichment results are kept: products' current facts, and a batch save guarded by their versions."""

    def current_facts_many(self, product_ids: Sequence[str]) -> dict[str, ProductFacts]: ...

    def save_many(
        self, results: Sequence[EnrichmentResult], lane: Lane, traceparents: Sequence[str | None] = ()
    ) -> list[SaveOutcome]: ...


@dataclass
class Enricher:
    store: EnrichmentRecords
    provider: EnrichmentProvider
    taxonomy: Taxonomy
    lookup_concurrency: int = LOOKUP_CONCURRENCY

    async def handle(self, event: EventEnvelope) -> SaveOutcome | None:
        """Enrich the product an event names; the outcome says what was stored (None: not an event to enrich)."""
        outcomes = await self.handle_batch([event])
        return outcomes[0] if outcomes else None

    async def handle_batch(self, events: Sequence[EventEnvelope]) -> list[SaveOutcome]:
        """Enrich the products the events name, each from its newest version in the batch; one outcome per product,
        in the order the products first appear.

        Each round of saves is one transaction (per lane), and saving again what is stored changes nothing, so a
        batch that failed half-way can be handled again as a whole.
        """
        changes = latest_per_product(
            Change(ProductFacts.from_snapshot(event.data), event.lane, event.id, event.traceparent)
            for event in events
            if event.type in ENRICHED_TYPES
        )
        return await self.enrich_changes(changes, len(events))

    async def enrich_changes(self, changes: Sequence[Change], events: int | None = None) -> list[SaveOutcome]:
        """Enrich one change per product (as `handle_batch` does after folding); one outcome per change, in order."""
        outcomes: list[SaveOutcome] = [SaveOutcome.STALE] * len(changes)
        pending = list(enumerate(changes))
        recomputed = 0
        for round_ in range(MAX_RECOMPUTES):
            results = await self._compute([change.facts for _, change in pending])
            stale: list[tuple[int, Change]] = []
            for (index, change), result, outcome in zip(
                pending, results, await self._save(pending, results), strict=True
            ):
                outcomes[index] = outcome
                if outcome is SaveOutcome.STALE:
                    # Rare (the product changed while it was enriched) and worth seeing: at INFO, with its ids.
                    log.info("enrichment stale", extra=_ids(change, result))
                    stale.append((index, change))
                elif log.isEnabledFor(logging.DEBUG):
                    log.debug("enrichment " + outcome.value, extra=_ids(change, result))
            if not stale or round_ == MAX_RECOMPUTES - 1:
                break
            current = await asyncio.to_thread(self.store.current_facts_many, [c.facts.id for _, c in stale])
            pending = []
            for index, change in stale:
                facts = current.get(change.facts.id)
                if facts is None:
                    outcomes[index] = SaveOutcome.GONE
                else:
                    pending.append((index, replace(change, facts=facts)))
            recomputed += len(pending)
            if not pending:
                break
        self._summarise(len(changes) if events is None else events, changes, outcomes, recomputed)
        return outcomes

    async def _compute(self, facts: Sequence[ProductFacts]) -> list[EnrichmentResult]:
        keywords = await self._provider_keywords(facts)
        return [
            enrich(one, self.taxonomy, extra or (), degraded=() if extra is not None else ("keywords",))
            for one, extra in zip(facts, keywords, strict=True)
        ]

    async def _save(
        self, pending: Sequence[tuple[int, Change]], results: Sequence[EnrichmentResult]
    ) -> list[SaveOutcome]:
        """Save the results in the lane of the changes they derive from: one transaction per lane in the batch."""
        outcomes: dict[int, SaveOutcome] = {}
        for lane in (Lane.INTERACTIVE, Lane.BULK):  # a processor's batch has one lane; a mixed one saves both
            positions = [n for n, (_, change) in enumerate(pending) if change.lane is lane]
            if positions:
                saved = await asyncio.to_thread(
                    self.store.save_many,
                    [results[n] for n in positions],
                    lane,
                    [pending[n][1].traceparent for n in positions],
                )
                outcomes.update(zip(positions, saved, strict=True))
        return [outcomes[n] for n in range(len(pending))]

    async def _provider_keywords(self, facts: Sequence[ProductFacts]) -> list[tuple[str, ...] | None]:
        """Keywords from the external provider per product, at most `lookup_concurrency` lookups at a time; None
        where it was unavailable: the local rules still give a useful result, marked degraded."""
        keywords: list[tuple[str, ...] | None] = [None] * len(facts)
        failures: list[str] = []
        queue = iter(enumerate(facts))  # shared by the workers: each product is taken by exactly one

        async def worker() -> None:
            for index, one in queue:
                try:
                    keywords[index] = (await self.provider.lookup(one)).keywords
                except ProviderUnavailable as exc:
                    failures.append(str(exc))
                    log.debug("provider unavailable", extra={"product_id": one.id, "error": str(exc)})

        await asyncio.gather(*(worker() for _ in range(min(self.lookup_concurrency, len(facts)))))
        if failures:
            # One line per batch, not per product: an outage would otherwise flood the log.
            log.warning(
                "provider unavailable; enriching from local rules only",
                extra={"products": len(failures), "of": len(facts), "error": failures[0]},
            )
        return keywords

    @staticmethod
    def _summarise(events: int, changes: Sequence[Change], outcomes: Sequence[SaveOutcome], recomputed: int) -> None:
        if not changes:
            return
        counts = Counter(outcome.value for outcome in outcomes)
        extra: dict[str, object] = {"events": events, "products": len(changes), "recomputed": recomputed, **counts}
        if len(changes) == 1:  # one product (the one-at-a-time path): its ids, as a line per product would say
            extra.update(event_id=changes[0].event_id, product_id=changes[0].facts.id, version=changes[0].facts.version)
        log.info("enrichment batch", extra=extra)


def _ids(change: Change, result: EnrichmentResult) -> dict[str, object]:
    return {
        "event_id": change.event_id,
        "product_id": result.product_id,
        "version": result.computed_from_version,
        "category": result.category,
    }
