"""Prometheus metrics every process shares: one registry per process, its exposition, and rate over a period.

Every metric of the platform is registered in prometheus-client's default registry when its module is imported, so a
process serves exactly the metrics of the code it runs, plus the client's process and runtime metrics. The meaning of
each metric is documented in docs/metrics.md.
"""

import math
import threading
import time
from bisect import bisect_left
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

__all__ = ["CONTENT_TYPE", "REGISTRY", "BatchHistogram", "RateMeter", "exposition"]

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


class BatchHistogram(Collector):
    """A histogram observed a batch of values at a time, for the paths that see thousands of values a second.

    `Histogram.observe` takes a lock per value (~1 µs); this sorts a batch into buckets with a bisect per value and
    takes its lock once per batch, several times cheaper. Exposed like any histogram (`_bucket`, `_sum`, `_count`)."""

    def __init__(
        self,
        name: str,
        documentation: str,
        labelnames: Sequence[str],
        buckets: Sequence[float],
        registry: CollectorRegistry | None = REGISTRY,
    ) -> None:
        self.name, self.documentation, self.labelnames = name, documentation, list(labelnames)
        self.bounds = [*sorted(buckets), math.inf]
        self._series: dict[tuple[str, ...], tuple[list[int], list[float]]] = {}  # per labels: counts, [sum]
        self._lock = threading.Lock()
        if registry is not None:
            registry.register(self)

    def labels(self, *values: str) -> tuple[str, ...]:
        """Make the series exist (at 0) and return its key for `observe_many`."""
        key = tuple(values)
        if len(key) != len(self.labelnames):
            raise ValueError(f"{self.name} takes labels {self.labelnames}")
        with self._lock:
            self._series.setdefault(key, ([0] * len(self.bounds), [0.0]))
        return key

    def observe_many(self, labels: tuple[str, ...], values: Iterable[float]) -> None:
        counts = [0] * len(self.bounds)
        total = 0.0
        for value in values:
            counts[bisect_left(self.bounds, value)] += 1  # a bucket holds values up to and including its bound
            total += value
        with self._lock:
            series_counts, series_sum = self._series.setdefault(labels, ([0] * len(self.bounds), [0.0]))
            for i, count in enumerate(counts):
                series_counts[i] += count
            series_sum[0] += total

    def describe(self) -> Iterable[Metric]:
        return [HistogramMetricFamily(self.name, self.documentation, labels=self.labelnames)]

    def collect(self) -> Iterator[Metric]:
        family = HistogramMetricFamily(self.name, self.documentation, labels=self.labelnames)
        with self._lock:
            series = [(labels, list(counts), sums[0]) for labels, (counts, sums) in self._series.items()]
        for labels, counts, total in series:
            cumulative, buckets = 0, []
            for bound, count in zip(self.bounds, counts, strict=True):
                cumulative += count
                buckets.append((floatToGoString(bound), cumulative))  # type: ignore[no-untyped-call]
            family.add_metric(list(labels), buckets, total)
        yield family
