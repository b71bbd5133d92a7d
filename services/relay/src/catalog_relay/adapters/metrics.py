"""The relay's Prometheus metrics: the outbox (backlog, oldest age, publish rate and delay) and the lag of every
processor's consumer group as the broker records it.

The group lag is read here, not in the processors, so that it keeps rising while a processor is down: the committed
offsets live in the broker, whoever runs. A thread samples it every `RELAY_LAG_INTERVAL_S` with an admin client.
"""

import logging
import threading
from collections.abc import Mapping, Sequence
from typing import Any

from confluent_kafka import ConsumerGroupTopicPartitions, IsolationLevel, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, OffsetSpec  # type: ignore[attr-defined]
from prometheus_client import Counter, Gauge, Histogram

from catalog_relay.adapters.outbox_table import OutboxRow
from catalog_relay.domain.group_lag import Partition, group_lag, lanes_of
from catalog_schemas import Lane
from catalog_schemas.topics import lane_of

log = logging.getLogger("catalog_relay")
LATEST: OffsetSpec = OffsetSpec.latest()  # type: ignore[no-untyped-call]
EARLIEST: OffsetSpec = OffsetSpec.earliest()  # type: ignore[no-untyped-call]

BACKLOG = Gauge("catalog_outbox_backlog", "Outbox rows not yet published.", ["lane"])
OLDEST_AGE = Gauge(
    "catalog_outbox_oldest_age_seconds", "Age of the oldest unpublished outbox row (0 when none waits).", ["lane"]
)
PUBLISHED = Counter("catalog_outbox_published", "Outbox rows acknowledged by the broker and marked.", ["lane"])
PUBLISH_DELAY = Histogram(
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
        by_lane = {lane: 0 for lane in Lane}
        for row in rows:
            lane = lane_of(row.topic)
            by_lane[lane] += 1
            self._delay[lane].observe(row.age_s + since_fetch_s)
        for lane, count in by_lane.items():
            if count:
                self._published[lane].inc(count)

    def backlog(self, by_lane: Mapping[Lane, tuple[int, float]]) -> None:
        for lane in Lane:
            rows, oldest_s = by_lane.get(lane, (0, 0.0))
            BACKLOG.labels(lane.value).set(rows)
            OLDEST_AGE.labels(lane.value).set(oldest_s)


class GroupLagSampler:
    """Samples the lag of the named consumer groups on a daemon thread until `stop` is set."""

    def __init__(self, config: dict[str, Any], groups: Sequence[str], interval_s: float, timeout_s: float = 10.0):
        # An admin client has no use for consumer-only settings (librdkafka would warn about each).
        self._admin = AdminClient({k: v for k, v in config.items() if k != "allow.auto.create.topics"})
        self.groups, self.interval_s, self.timeout_s = list(groups), interval_s, timeout_s
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
            except (KafkaException, RuntimeError, TimeoutError) as exc:
                # The last figures stay: a broker outage must not make the lag look like 0.
                if not self._failing:
                    log.warning("consumer group lag not sampled", extra={"error": str(exc)[:300]})
                self._failing = True
            if stop.wait(self.interval_s):
                return

    def sample(self) -> dict[str, dict[Partition, int]]:
        """Read every group's committed offsets and the end offsets of what it reads; set the gauges."""
        lags = {group: self._lag(group) for group in self.groups}
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

    def _lag(self, group: str) -> dict[Partition, int]:
        request = [ConsumerGroupTopicPartitions(group)]
        answer = self._admin.list_consumer_group_offsets(request, request_timeout=self.timeout_s)[group]
        committed: dict[Partition, int | None] = {
            (tp.topic, tp.partition): tp.offset if tp.offset >= 0 else None  # no commit: a negative sentinel
            for tp in answer.result(self.timeout_s).topic_partitions or []
        }
        topics = lanes_of(topic for topic, _ in committed)
        if not topics:
            return {}  # the group never committed: nothing it reads is known
        partitions = [
            (topic, partition)
            for topic in sorted(topics)
            for partition in self._admin.list_topics(topic, timeout=self.timeout_s).topics[topic].partitions
        ]
        ends = self._offsets(partitions, LATEST)
        beginnings = self._offsets([p for p in partitions if committed.get(p) is None], EARLIEST)
        return group_lag(committed, ends, beginnings)

    def _offsets(self, partitions: Sequence[Partition], spec: OffsetSpec) -> dict[Partition, int]:
        if not partitions:
            return {}
        # Read-committed: the processors read the relay's transactions, so their end is the last stable offset.
        futures = self._admin.list_offsets(
            {TopicPartition(topic, partition): spec for topic, partition in partitions},
            isolation_level=IsolationLevel.READ_COMMITTED,
            request_timeout=self.timeout_s,
        )
        return {(tp.topic, tp.partition): future.result(self.timeout_s).offset for tp, future in futures.items()}
