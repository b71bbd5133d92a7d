"""Enriching one product event: compute from the event's facts, store only if still current, else recompute."""

import asyncio
import logging
from dataclasses import dataclass
from typing import Protocol

from catalog_enricher.adapters.catalog_store import SaveOutcome
from catalog_enricher.adapters.provider import EnrichmentProvider, ProviderUnavailable
from catalog_enricher.domain.facts import ProductFacts
from catalog_enricher.domain.rules import EnrichmentResult, enrich
from catalog_enricher.domain.taxonomy import Taxonomy
from catalog_kit.envelope import EventEnvelope

log = logging.getLogger("catalog_enricher")

ENRICHED_TYPES = frozenset({"product.created", "product.updated"})
MAX_RECOMPUTES = 5  # a product rewritten faster than it can be enriched is left to its next event


class EnrichmentRecords(Protocol):
    """Where enrichment results are kept: the product's current facts, and a save guarded by its version."""

    def current_facts(self, product_id: str) -> ProductFacts | None: ...

    def save(self, result: EnrichmentResult) -> SaveOutcome: ...


@dataclass
class Enricher:
    store: EnrichmentRecords
    provider: EnrichmentProvider
    taxonomy: Taxonomy

    async def handle(self, event: EventEnvelope) -> SaveOutcome | None:
        """Enrich the product an event names; the outcome says what was stored."""
        if event.type not in ENRICHED_TYPES:
            return None
        facts: ProductFacts | None = ProductFacts.from_snapshot(event.data)
        outcome = SaveOutcome.STALE
        for _ in range(MAX_RECOMPUTES):
            if facts is None:
                return SaveOutcome.GONE
            result = enrich(facts, self.taxonomy, await self._provider_keywords(facts))
            outcome = await asyncio.to_thread(self.store.save, result)
            log.info(
                "enrichment " + outcome.value,
                extra={
                    "event_id": event.id,
                    "product_id": facts.id,
                    "version": facts.version,
                    "category": result.category,
                },
            )
            if outcome is not SaveOutcome.STALE:
                return outcome
            facts = await asyncio.to_thread(self.store.current_facts, facts.id)
        return outcome

    async def _provider_keywords(self, facts: ProductFacts) -> tuple[str, ...]:
        """Keywords from the external provider; without them the local rules still give a useful result."""
        try:
            return (await self.provider.lookup(facts)).keywords
        except ProviderUnavailable as exc:
            log.warning(
                "provider unavailable; enriching from local rules only",
                extra={"product_id": facts.id, "error": str(exc)},
            )
            return ()
