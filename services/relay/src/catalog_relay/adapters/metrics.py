"""The relay's Prometheus metrics: the outbox (backlog, oldest age, publish rate and delay) and the lag of every
processor's consumer group as the broker records it.

The group lag is read here, not in the processors, so that it keeps rising while a processor is down: the committed
offsets live in the broker, whoever runs. A thread samples it every `RELAY_LAG_INTERVAL_S` with an admin client.
"""

import logging
import threading
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from confluent_kafka import Consumer, TopicPartition
from prometheus_client import Counter, Gauge

from catalog_kit.metrics import BatchHistogram
from catalog_relay.adapters.outbox_table import OutboxRow
from catalog_relay.domain.group_lag import Partition, group_lag, lanes_of
from catalog_schemas import Lane
from catalog_schemas.topics import TOPICS, lane_of

log = logging.getLogger("catalog_relay")
EVENT_TOPICS = tuple(topic.name for topic in TOPICS if topic.event_types)  # what a processor may read (no DLQs)

BACKLOG = Gauge("catalog_outbox_backlog", "Outbox rows not yet published.", ["lane"])
OLDEST_AGE = Gauge(
    "catalog_outbox_oldest_age_seconds", "Age of the oldest unpublished outbox row (0 when none waits).", ["lane"]
)
PUBLISHED = Counter("catalog_outbox_published", "Outbox rows acknowledged by the broker and marked.", ["lane"])
PUBLISH_DELAY = BatchHistogram(  # observed per row, thousands a second: a batch at a time
    "catalog_outbox_publish_delay_seconds",
    "From the row's transaction to the broker's acknowledgement of its event.",
    ["lane"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600),
)
GROUP_LAG = Gauge(
    "catalog_consumer_group_lag",
    "Records of a partition a processor's consumer group has not committed, read from the broker.",
    ["group", "topic", "partition", "lane"],
)


class OutboxMetrics:
    """What the relay loop reports: rows published (with their delay) and the backlog it sampled."""

    def __init__(self) -> None:
        self._published = {lane: PUBLISHED.labels(lane.value) for lane in Lane}
        self._delay = {lane: PUBLISH_DELAY.labels(lane.value) for lane in Lane}
        self.backlog({})  # both lanes exist from the start, at 0

    def published(self, rows: Sequence[OutboxRow], since_fetch_s: float) -> None:
        """`rows` were acknowledged `since_fetch_s` after they were read (each row knows its age when read)."""
        delays: dict[Lane, list[float]] = {lane: [] for lane in Lane}
        for row in rows:
            delays[lane_of(row.topic)].append(row.age_s + since_fetch_s)
        for lane, values in delays.items():
            if values:
                self._published[lane].inc(len(values))
                PUBLISH_DELAY.observe_many(self._delay[lane], values)

    def backlog(self, by_lane: Mapping[Lane, tuple[int, float]]) -> None:
        for lane in Lane:
            rows, oldest_s = by_lane.get(lane, (0, 0.0))
            BACKLOG.labels(lane.value).set(rows)
            OLDEST_AGE.labels(lane.value).set(oldest_s)


class GroupLagSampler:
    """Samples the lag of the named consumer groups on a daemon thread until `stop` is set.

    Plain consumers that never subscribe (so never join the groups): one per group reads its committed offsets, one
    more the partitions' offsets. The consumer calls are librdkafka's oldest and most used; its admin API for group
    offsets has crashed processes on broker errors (confluent-kafka-python #1982)."""

    def __init__(self, config: dict[str, Any], groups: Sequence[str], interval_s: float, timeout_s: float = 10.0):
        # Read-committed, as the processors read: their end of a partition is its last stable offset.
        base = {**config, "enable.auto.commit": False, "isolation.level": "read_committed"}
        self._groups = {group: Consumer({**base, "group.id": group}) for group in groups}
        self._offsets = Consumer({**base, "group.id": "catalog-relay-lag"})  # never commits
        self.interval_s, self.timeout_s = interval_s, timeout_s
        self._series: set[tuple[str, str, str, str]] = set()
        self._failing = False

    def start(self, stop: threading.Event) -> threading.Thread:
        thread = threading.Thread(target=self._run, args=(stop,), name="group-lag", daemon=True)
        thread.start()
        return thread

    def _run(self, stop: threading.Event) -> None:
        while True:
            try:
                self.sample()
                if self._failing:
                    log.info("consumer group lag readable again")
                self._failing = False
            except Exception as exc:  # the thread must outlive any failure, or the gauges would freeze unnoticed
                # The last figures stay: a broker outage must not make the lag look like 0.
                if not self._failing:
                    log.warning("consumer group lag not sampled", extra={"error": f"{type(exc).__name__}: {exc}"[:300]})
                self._failing = True
            if stop.wait(self.interval_s):
                return

    def sample(self) -> dict[str, dict[Partition, int]]:
        """Read every group's committed offsets and the offsets of the partitions it reads; set the gauges."""
        committed = {group: self._committed(consumer) for group, consumer in self._groups.items()}
        watermarks: dict[Partition, tuple[int, int]] = {}
        lags: dict[str, dict[Partition, int]] = {}
        for group, offsets in committed.items():
            partitions = self._partitions(lanes_of(topic for topic, _ in offsets))
            for partition in partitions:
                if partition not in watermarks:
                    low, high = self._offsets.get_watermark_offsets(
                        TopicPartition(*partition), timeout=self.timeout_s, cached=False
                    )
                    watermarks[partition] = (low, high)
            lags[group] = group_lag(
                offsets, {p: watermarks[p][1] for p in partitions}, {p: watermarks[p][0] for p in partitions}
            )
        series = {
            (group, topic, str(partition), lane_of(topic).value): lag
            for group, by_partition in lags.items()
            for (topic, partition), lag in by_partition.items()
        }
        for gone in self._series - series.keys():
            GROUP_LAG.remove(*gone)
        for labels, lag in series.items():
            GROUP_LAG.labels(*labels).set(lag)
        self._series = set(series)
        return lags

    def _committed(self, consumer: Consumer) -> dict[Partition, int | None]:
        """The group's committed offsets on every partition of the topics it committed on."""
        known = self._partitions(EVENT_TOPICS)
        answer = consumer.committed([TopicPartition(topic, partition) for topic, partition in known], self.timeout_s)
        return {(tp.topic, tp.partition): tp.offset for tp in answer if tp.offset >= 0}

    def _partitions(self, topics: Iterable[str]) -> list[Partition]:
        metadata = self._offsets.list_topics(timeout=self.timeout_s).topics
        return [(topic, p) for topic in sorted(topics) if topic in metadata for p in metadata[topic].partitions]
