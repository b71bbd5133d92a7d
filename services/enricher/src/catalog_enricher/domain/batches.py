"""Which products a batch of events asks to enrich, and from which of their versions."""

from collections.abc import Iterable
from dataclasses import dataclass, replace

from catalog_enricher.domain.facts import ProductFacts
from catalog_schemas import Lane


@dataclass(frozen=True)
class Change:
    """One event's view of a product: its facts at that version, the event's lane, id and trace."""

    facts: ProductFacts
    lane: Lane
    event_id: str
    traceparent: str | None = None  # what the product.enriched event continues


def latest_per_product(changes: Iterable[Change]) -> list[Change]:
    """One change per product: its highest version, in the order the products first appear.

    Enriching an older version would only be overwritten (or found stale), so it is skipped. The lane is
    interactive if any of the product's changes was: someone waits for that one, and folding must not move it
    behind bulk work.
    """
    latest: dict[str, Change] = {}
    interactive: set[str] = set()
    for change in changes:
        product_id = change.facts.id
        if change.lane is Lane.INTERACTIVE:
            interactive.add(product_id)
        kept = latest.get(product_id)
        # On equal versions (a redelivered event) the first one stays.
        if kept is None or change.facts.version > kept.facts.version:
            latest[product_id] = change
    return [
        replace(change, lane=Lane.INTERACTIVE) if product_id in interactive else change
        for product_id, change in latest.items()
    ]
