"""A provider wrapper that adds latency and failures: shows the pipeline holds up when enrichment is slow."""

import asyncio
import random

from catalog_enricher.adapters.provider import EnrichmentProvider, ProviderResult
from catalog_enricher.domain.facts import ProductFacts


class ProviderFaultInjected(Exception):
    """A failure made on purpose."""


class FaultyProvider:
    def __init__(self, inner: EnrichmentProvider, delay_s: float, failure_rate: float) -> None:
        self.inner = inner
        self.name = f"faulty-{inner.name}"
        self.delay_s = delay_s
        self.failure_rate = failure_rate

    async def lookup(self, facts: ProductFacts) -> ProviderResult:
        await asyncio.sleep(self.delay_s)
        if random.random() < self.failure_rate:  # noqa: S311 - fault injection, not security
            raise ProviderFaultInjected(f"injected failure for {facts.id}")
        return await self.inner.lookup(facts)
