"""The search API's metrics: how far the index it searches is behind the read model (its own module, so that only
the search API process exports them)."""

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from prometheus_client import Gauge

INDEX_LAG = Gauge(
    "catalog_search_index_lag_changes",
    "Read-model changes the search index (the commit this search API has loaded) has not applied yet.",
)
INDEX_BEHIND = Gauge(
    "catalog_search_index_behind_seconds",
    "How long the oldest read-model change the search index has not applied has waited (grows while its writer is"
    " stalled; 0 when caught up).",
)
FRESH_PRODUCTS = Gauge(
    "catalog_search_fresh_products",
    "Fresh products this search API answers for from its overlay until the index has them.",
)


@dataclass(frozen=True)
class IndexLag:
    position: int  # the index's committed change number
    last_change: int  # the read model's highest change number
    behind_s: float
    fresh: int

    @property
    def lag(self) -> int:
        return max(0, self.last_change - self.position)


def watch_index(read: Callable[[], IndexLag], max_age_s: float = 1.0) -> None:
    """Serve the gauges above from `read`, read at most once per `max_age_s` (a scrape reads all three)."""
    last: list[tuple[float, IndexLag | None]] = [(-math.inf, None)]

    def reading() -> IndexLag | None:
        at, value = last[0]
        if time.monotonic() - at >= max_age_s:
            try:
                value = read()
            except Exception:  # the read model or the index unavailable: readiness says so; no figure rather than 0
                value = None
            last[0] = (time.monotonic(), value)
        return value

    INDEX_LAG.set_function(lambda: float(r.lag) if (r := reading()) else math.nan)
    INDEX_BEHIND.set_function(lambda: r.behind_s if (r := reading()) else math.nan)
    FRESH_PRODUCTS.set_function(lambda: float(r.fresh) if (r := reading()) else math.nan)
