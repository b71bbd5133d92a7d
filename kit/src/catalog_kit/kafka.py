"""Kafka client configuration and topic creation, in one place for every service.

Only settings that both Apache Kafka and the local Kafka-protocol broker support are used.
"""

import logging
import time
from collections.abc import Iterable, Mapping
from typing import Any

from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

from catalog_kit.settings import CatalogSettings
from catalog_schemas import Topic

log = logging.getLogger(__name__)


def client_config(settings: CatalogSettings) -> dict[str, Any]:
    """Connection settings for confluent-kafka clients (librdkafka names)."""
    return {
        "bootstrap.servers": settings.kafka_bootstrap_servers,
        # Topics come only from the registry (`ensure_topics`): a client asking for an unknown topic must not
        # make one with the broker's default partition count.
        "allow.auto.create.topics": False,
        **settings.kafka_client_settings(),
    }


def producer_config(settings: CatalogSettings, **overrides: Any) -> dict[str, Any]:
    """A producer that never loses or reorders an acknowledged message: idempotent, acks from all replicas."""
    return {
        **client_config(settings),
        "enable.idempotence": True,
        "acks": "all",
        # No compression by default: every consumer can read the topic without codec libraries.
        "compression.type": "none",
        "linger.ms": 5,
        "message.timeout.ms": 30_000,
        **overrides,
    }


class TopicMismatch(RuntimeError):
    """A registered topic exists with another partition count than the registry's."""


def partition_mismatches(topics: Iterable[Topic], actual: Mapping[str, int]) -> list[str]:
    """What differs between the registry and the partition counts of the existing topics (`actual`, by name)."""
    return [
        f"topic {t.name} has {actual[t.name]} partitions, the registry expects {t.partitions}"
        for t in topics
        if t.name in actual and actual[t.name] != t.partitions
    ]


def check_partitions(topics: Iterable[Topic], actual: Mapping[str, int]) -> None:
    """Refuse topics whose partition count is not the registry's: keys would map to other partitions than the
    producers and consumers of the registry expect, and per-key order would break."""
    mismatches = partition_mismatches(topics, actual)
    if mismatches:
        raise TopicMismatch(
            "; ".join(mismatches) + ". Recreate the topic (losing its records) or change the registry on purpose."
        )


def ensure_topics(settings: CatalogSettings, topics: Iterable[Topic], timeout: float = 30.0) -> None:
    """Create the registered topics that do not exist yet; raise `TopicMismatch` for an existing topic whose
    partition count differs from the registry's."""
    topics = list(topics)
    admin = AdminClient(client_config(settings))
    existing = admin.list_topics(timeout=timeout).topics
    check_partitions(topics, {name: len(meta.partitions) for name, meta in existing.items()})
    wanted = [t for t in topics if t.name not in existing]
    if not wanted:
        return
    futures = admin.create_topics(
        [NewTopic(t.name, num_partitions=t.partitions, replication_factor=-1) for t in wanted],
        operation_timeout=timeout,
    )
    for name, future in futures.items():
        try:
            future.result()
            log.info("topic created", extra={"topic": name})
        except Exception as exc:
            if "TOPIC_ALREADY_EXISTS" not in str(exc):  # created meanwhile by another process: checked below
                raise
    # Metadata propagates asynchronously; wait until every topic is visible with all its partitions.
    deadline = time.monotonic() + timeout
    while True:
        metadata = admin.list_topics(timeout=timeout).topics
        actual = {t.name: len(metadata[t.name].partitions) for t in wanted if t.name in metadata}
        if len(actual) == len(wanted) and not partition_mismatches(wanted, actual):
            return
        if time.monotonic() > deadline:
            check_partitions(wanted, actual)
            raise TimeoutError(f"topics not visible after {timeout}s: {[t.name for t in wanted]}")
        time.sleep(0.1)
