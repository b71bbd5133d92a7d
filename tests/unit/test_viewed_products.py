"""Which product views cost a lookup of the enricher's store, and which are reported (the lookup and the write are
tested on the real database in tests/integration/test_enrichment_queue.py)."""

from collections.abc import Iterable
from typing import cast

from sqlalchemy.orm import Session

from catalog_api.service_layer.enrichment_attention import ViewedProducts
from catalog_kit.enrichment_requests import EnrichmentRequests
from catalog_kit.outbox import OutboxWriter


class Store:
    """The enricher's store as the views see it: which (product, version) wait."""

    def __init__(self, waiting: set[tuple[str, int]]) -> None:
        self.waiting = waiting
        self.lookups: list[tuple[str, int]] = []

    def is_pending(self, product_id: str, version: int) -> bool:
        self.lookups.append((product_id, version))
        return (product_id, version) in self.waiting


class Requests(EnrichmentRequests):
    """Notes kept in memory; nothing is written."""

    def __init__(self) -> None:
        super().__init__(lambda: cast(Session, None), OutboxWriter("/t"), "viewed", every_s=3600.0)
        self.noted: list[str] = []

    def note(self, product_ids: Iterable[str]) -> bool:
        ids = list(product_ids)
        self.noted.extend(ids)
        return super().note(ids)

    def flush(self) -> int:
        return 0


def test_an_enriched_version_is_looked_up_once_and_a_new_version_again() -> None:
    store, requests = Store(set()), Requests()
    views = ViewedProducts(requests, store.is_pending)
    for _ in range(3):
        views.seen("a", 1)
    views.seen("a", 2)
    assert store.lookups == [("a", 1), ("a", 2)]
    assert requests.noted == []


def test_a_pending_product_is_reported_once_while_it_waits() -> None:
    store, requests = Store({("a", 1)}), Requests()
    views = ViewedProducts(requests, store.is_pending)
    views.seen("a", 1)
    views.seen("a", 1)  # reported a moment ago: no second lookup, no second report
    assert requests.noted == ["a"]
    assert store.lookups == [("a", 1)]


def test_the_memory_of_enriched_versions_is_bounded() -> None:
    store = Store(set())
    views = ViewedProducts(Requests(), store.is_pending, remember=2)
    for product in ("a", "b", "c", "a"):
        views.seen(product, 1)
    assert store.lookups == [("a", 1), ("b", 1), ("c", 1), ("a", 1)]  # "a" forgotten when "c" came
