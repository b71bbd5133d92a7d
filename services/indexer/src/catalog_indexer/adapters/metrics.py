"""The indexer's own metric: how fresh the read model is, from an event's time to its part being committed."""

import time
from collections.abc import Sequence

from catalog_kit.envelope import EventEnvelope
from catalog_kit.metrics import BatchHistogram
from catalog_schemas import Lane

FRESHNESS = BatchHistogram(  # observed per indexed event, thousands a second: a batch at a time
    "catalog_index_freshness_seconds",
    "From an event's time (its write to the outbox) to the read model's commit of the part it carries.",
    ["lane", "kind"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600),
)
KINDS = {
    "product.created": "core",
    "product.updated": "core",
    "product.deleted": "core",
    "product.enriched": "enrichment",
    "product.media_processed": "media",
}


class FreshnessMetrics:
    """Observes each committed event's age, with one clock reading and one histogram update per batch and series."""

    def __init__(self) -> None:
        self._series = {
            (lane, kind): FRESHNESS.labels(lane.value, kind) for lane in Lane for kind in set(KINDS.values())
        }

    def committed(self, events: Sequence[EventEnvelope]) -> None:
        now = time.time()
        ages: dict[tuple[Lane, str], list[float]] = {}
        for event in events:
            if (kind := KINDS.get(event.type)) is not None:
                # Another host's clock may run ahead: a negative age is counted as fresh rather than dropped.
                ages.setdefault((event.lane, kind), []).append(max(0.0, now - event.time.timestamp()))
        for series, values in ages.items():
            FRESHNESS.observe_many(self._series[series], values)
