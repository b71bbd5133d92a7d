"""The consumer metrics of every stream processor (label `processor`), fed where the consume loop feeds its health.

Updates are per partition batch, never per record, so the hot path pays a few microseconds per batch. Lag is
what the loop samples every `LAG_SAMPLE_INTERVAL_S` (end offset minus committed offset); readiness is computed
when scraped, from the same report as `/readyz`.
"""

from collections.abc import Callable

from prometheus_client import Counter, Gauge, Histogram

from catalog_schemas.topics import lane_of

LAG = Gauge(
    "catalog_consumer_lag",
    "Records of a partition not yet committed by the processor's group: end offset minus committed offset.",
    ["processor", "topic", "partition", "lane"],
)
RECORDS = Counter(
    "catalog_consumer_records",
    "Records handled (applied or dead-lettered) and committed.",
    ["processor", "topic", "lane"],
)
RECORDS_PER_SECOND = Gauge(
    "catalog_consumer_records_per_second",
    "Records handled per second over the last lag-sampling period.",
    ["processor"],
)
BATCH_SIZE = Histogram(
    "catalog_consumer_batch_size",
    "Records per partition batch handed to the processor's handler.",
    ["processor", "lane"],
    buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000),
)
BATCH_SECONDS = Histogram(
    "catalog_consumer_batch_seconds",
    "Time to handle a partition batch and commit it; outcome `isolated`: it failed whole and went record by record.",
    ["processor", "lane", "outcome"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
RETRIES = Counter("catalog_consumer_retries", "Retries of a record after a transient failure.", ["processor"])
DEAD_LETTERS = Counter(
    "catalog_consumer_dead_letters", "Records published to the processor's dead-letter topic.", ["processor"]
)
READY = Gauge("catalog_consumer_ready", "1 when /readyz answers 200, else 0.", ["processor"])


class ConsumerMetrics:
    """One processor's view of the consumer metrics: label children cached, lag series kept to the assignment."""

    def __init__(self, processor: str, ready: Callable[[], bool]) -> None:
        self.processor = processor
        self.retries = RETRIES.labels(processor)
        self.dead_letters = DEAD_LETTERS.labels(processor)
        self.records_per_second = RECORDS_PER_SECOND.labels(processor)
        READY.labels(processor).set_function(lambda: 1.0 if ready() else 0.0)
        self._lag_series: set[tuple[str, str, str, str]] = set()

    def handled(self, topic: str, records: int, seconds: float, *, isolated: bool) -> None:
        """A partition batch of `records` was handled and committed in `seconds`."""
        lane = lane_of(topic).value
        RECORDS.labels(self.processor, topic, lane).inc(records)
        BATCH_SIZE.labels(self.processor, lane).observe(records)
        BATCH_SECONDS.labels(self.processor, lane, "isolated" if isolated else "ok").observe(seconds)

    def lag(self, lag: dict[tuple[str, int], int]) -> None:
        """Set the lag of the assigned partitions; partitions no longer assigned lose their series."""
        series = {
            (self.processor, topic, str(partition), lane_of(topic).value): n for (topic, partition), n in lag.items()
        }
        for gone in self._lag_series - series.keys():
            LAG.remove(*gone)
        for labels, value in series.items():
            LAG.labels(*labels).set(value)
        self._lag_series = set(series)
