"""Kafka client configuration and topic creation, in one place for every service.

Only settings that both Apache Kafka and the local Kafka-protocol broker support are used.
"""

import logging
import time
from collections.abc import Iterable
from typing import Any

from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

from catalog_kit.settings import CatalogSettings
from catalog_schemas import Topic

log = logging.getLogger(__name__)


def client_config(settings: CatalogSettings) -> dict[str, Any]:
    """Connection settings for confluent-kafka clients (librdkafka names)."""
    return {"bootstrap.servers": settings.kafka_bootstrap_servers, **settings.kafka_client_extra}


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


def ensure_topics(settings: CatalogSettings, topics: Iterable[Topic], timeout: float = 30.0) -> None:
    """Create the registered topics that do not exist yet (an existing topic is left as it is)."""
    admin = AdminClient(client_config(settings))
    existing = set(admin.list_topics(timeout=timeout).topics)
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
            if "TOPIC_ALREADY_EXISTS" not in str(exc):
                raise
    # Metadata propagates asynchronously; wait until every topic is visible with all its partitions.
    deadline = time.monotonic() + timeout
    while True:
        metadata = admin.list_topics(timeout=timeout).topics
        if all(t.name in metadata and len(metadata[t.name].partitions) == t.partitions for t in wanted):
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"topics not visible after {timeout}s: {[t.name for t in wanted]}")
        time.sleep(0.1)
