"""Handling a batch of product events: which version of each product is enriched, in which lane, how stale results
are recomputed, and how lookups are bounded. The store here is an in-memory stand-in; the real one is tested in
tests/integration/test_enrichment_batches.py."""

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from catalog_enricher.adapters.catalog_store import SaveOutcome
from catalog_enricher.adapters.provider import LocalProvider, ProviderResult, ProviderUnavailable
from catalog_enricher.domain.batches import Change, latest_per_product
from catalog_enricher.domain.facts import ProductFacts
from catalog_enricher.domain.rules import EnrichmentResult
from catalog_enricher.domain.taxonomy import Taxonomy
from catalog_enricher.service_layer.enrichment import MAX_RECOMPUTES, Enricher
from catalog_kit.envelope import EventEnvelope
from catalog_schemas import Lane

TAXONOMY = Taxonomy.default()


def snapshot(product_id: str, version: int, name: str = "Linen tee") -> dict[str, Any]:
    return {"id": product_id, "version": version, "sku": f"SKU-{product_id}", "name": name, "price": "9.90",
            "currency": "EUR"}  # fmt: skip


def change(product_id: str, version: int, lane: Lane = Lane.BULK) -> Change:
    return Change(ProductFacts.from_snapshot(snapshot(product_id, version)), lane, f"e-{product_id}-{version}")


def event(product_id: str, version: int, lane: Lane = Lane.BULK, kind: str = "product.updated") -> EventEnvelope:
    return EventEnvelope(type=kind, source="/test", subject=product_id, data=snapshot(product_id, version), lane=lane)


def test_each_product_is_enriched_from_its_highest_version_in_order_of_first_appearance() -> None:
    folded = latest_per_product([change("a", 1), change("b", 3), change("a", 3), change("a", 2), change("c", 1)])
    assert [(c.facts.id, c.facts.version, c.event_id) for c in folded] == [
        ("a", 3, "e-a-3"),
        ("b", 3, "e-b-3"),
        ("c", 1, "e-c-1"),
    ]


def test_a_redelivered_version_keeps_the_first_event() -> None:
    first, again = change("a", 2), Change(change("a", 2).facts, Lane.BULK, "redelivered")
    assert latest_per_product([first, again]) == [first]


def test_a_product_with_any_interactive_change_stays_interactive() -> None:
    folded = latest_per_product([change("a", 1, Lane.INTERACTIVE), change("a", 2, Lane.BULK), change("b", 1)])
    assert [(c.facts.id, c.facts.version, c.lane) for c in folded] == [("a", 2, Lane.INTERACTIVE), ("b", 1, Lane.BULK)]
    assert latest_per_product([]) == []


@dataclass
class MovingCatalog:
    """Products whose version moves on `bumps` times more whenever a result is saved, as if written meanwhile."""

    versions: dict[str, int]
    bumps: dict[str, int] = field(default_factory=dict)
    saves: list[tuple[list[tuple[str, int]], Lane]] = field(default_factory=list)
    stored: dict[str, int] = field(default_factory=dict)
    results: list[EnrichmentResult] = field(default_factory=list)

    def current_facts_many(self, product_ids: Sequence[str]) -> dict[str, ProductFacts]:
        return {i: ProductFacts.from_snapshot(snapshot(i, self.versions[i])) for i in product_ids if i in self.versions}

    def save_many(
        self, results: Sequence[EnrichmentResult], lane: Lane, traceparents: Sequence[str | None] = ()
    ) -> list[SaveOutcome]:
        self.saves.append(([(r.product_id, r.computed_from_version) for r in results], lane))
        self.results.extend(results)
        outcomes = []
        for r in results:
            version = self.versions.get(r.product_id)
            if version is None:
                outcomes.append(SaveOutcome.GONE)
            elif version != r.computed_from_version or self.bumps.get(r.product_id, 0) > 0:
                if self.bumps.get(r.product_id, 0) > 0:
                    self.bumps[r.product_id] -= 1
                    self.versions[r.product_id] += 1
                outcomes.append(SaveOutcome.STALE)
            elif self.stored.get(r.product_id, 0) >= version:
                outcomes.append(SaveOutcome.UNCHANGED)
            else:
                self.stored[r.product_id] = version
                outcomes.append(SaveOutcome.SAVED)
        return outcomes


def test_stale_products_are_recomputed_together_from_current_facts() -> None:
    store = MovingCatalog(versions={"a": 2, "b": 1, "c": 1})
    store.versions.pop("c")  # deleted after its event
    enricher = Enricher(store=store, provider=LocalProvider(), taxonomy=TAXONOMY)

    outcomes = asyncio.run(enricher.handle_batch([event("a", 1), event("b", 1), event("c", 1)]))

    assert outcomes == [SaveOutcome.SAVED, SaveOutcome.SAVED, SaveOutcome.GONE]
    assert store.saves == [([("a", 1), ("b", 1), ("c", 1)], Lane.BULK), ([("a", 2)], Lane.BULK)]


def test_a_product_rewritten_faster_than_it_is_enriched_is_left_stale_after_the_last_round() -> None:
    store = MovingCatalog(versions={"a": 1, "b": 1}, bumps={"a": MAX_RECOMPUTES})
    enricher = Enricher(store=store, provider=LocalProvider(), taxonomy=TAXONOMY)

    assert asyncio.run(enricher.handle_batch([event("a", 1), event("b", 1)])) == [SaveOutcome.STALE, SaveOutcome.SAVED]
    assert [[version for _, version in saved] for saved, _ in store.saves] == [[1, 1], [2], [3], [4], [5]]


def test_events_of_other_types_are_ignored_and_mixed_lanes_are_saved_per_lane() -> None:
    store = MovingCatalog(versions={"a": 1, "b": 1})
    enricher = Enricher(store=store, provider=LocalProvider(), taxonomy=TAXONOMY)
    batch = [event("a", 1, Lane.BULK), event("b", 1, Lane.INTERACTIVE), event("a", 2, kind="product.deleted")]

    assert asyncio.run(enricher.handle_batch(batch)) == [SaveOutcome.SAVED, SaveOutcome.SAVED]
    assert store.saves == [([("b", 1)], Lane.INTERACTIVE), ([("a", 1)], Lane.BULK)]
    assert asyncio.run(enricher.handle(event("a", 2, kind="product.deleted"))) is None


@dataclass
class CountingProvider:
    """Fails for the products named in `failing`; remembers the most lookups it had in flight at once."""

    failing: set[str]
    name: str = "counting"
    in_flight: int = 0
    most: int = 0

    async def lookup(self, facts: ProductFacts) -> ProviderResult:
        self.in_flight += 1
        self.most = max(self.most, self.in_flight)
        try:
            await asyncio.sleep(0)
            if facts.id in self.failing:
                raise ProviderUnavailable("circuit open")
            return ProviderResult(keywords=("extra",))
        finally:
            self.in_flight -= 1


def test_lookups_run_concurrently_but_bounded_and_an_unavailable_provider_leaves_the_local_rules() -> None:
    store = MovingCatalog(versions={str(n): 1 for n in range(20)})
    provider = CountingProvider(failing={"3"})
    enricher = Enricher(store=store, provider=provider, taxonomy=TAXONOMY, lookup_concurrency=4)

    outcomes = asyncio.run(enricher.handle_batch([event(str(n), 1) for n in range(20)]))

    assert outcomes == [SaveOutcome.SAVED] * 20
    assert provider.most == 4
    assert [("extra" in r.keywords) for r in store.results] == [n != 3 for n in range(20)]
