"""Prometheus metrics every process shares: one registry per process, its exposition, and rate over a period.

Every metric of the platform is registered in prometheus-client's default registry when its module is imported, so a
process serves exactly the metrics of the code it runs, plus the client's process and runtime metrics. The meaning of
each metric is documented in docs/metrics.md.
"""

import time
from dataclasses import dataclass, field

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    disable_created_metrics,
    generate_latest,
)

__all__ = ["CONTENT_TYPE", "REGISTRY", "RateMeter", "exposition"]

CONTENT_TYPE = CONTENT_TYPE_LATEST
# `*_created` series double the exposition and say only when a process started, which process_start_time_seconds says.
disable_created_metrics()  # type: ignore[no-untyped-call]


def exposition(registry: CollectorRegistry = REGISTRY) -> bytes:
    """The registry in the Prometheus text format (`CONTENT_TYPE`)."""
    return generate_latest(registry)


@dataclass
class RateMeter:
    """Events per second over the period between two samples (not since the start): a stall shows as 0 at once."""

    total: int = 0
    _last_total: int = 0
    _last_at: float = field(default_factory=time.monotonic)
    rate: float = 0.0

    def add(self, count: int) -> None:
        self.total += count

    def sample(self, now: float | None = None) -> float:
        """Close the current period: the rate of what was added since the last sample."""
        now = time.monotonic() if now is None else now
        elapsed = now - self._last_at
        if elapsed > 0:
            self.rate = (self.total - self._last_total) / elapsed
        self._last_total, self._last_at = self.total, now
        return self.rate
