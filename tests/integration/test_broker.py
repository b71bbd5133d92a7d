"""The brokers the stack runs: topics only as the registry says, Apache Kafka's data outlives a restart, and the
no-Java option (Tansu) still carries an event."""

import uuid
from pathlib import Path

import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

from catalog_kit.kafka import TopicMismatch, client_config, ensure_topics, producer_config
from catalog_kit.settings import CatalogSettings
from catalog_schemas.topics import PRODUCT, TOPICS, Topic
from catalog_stack.broker import KafkaBroker, TansuBroker, install_kafka
from catalog_stack.infra import Endpoints, StackConfig
from tests.conftest import free_port
from tests.support import wait_until


def _settings(bootstrap_servers: str) -> CatalogSettings:
    return CatalogSettings(kafka_bootstrap_servers=bootstrap_servers)


def _produce_one(settings: CatalogSettings, key: bytes, value: bytes) -> tuple[int, int]:
    """Send one record to the product topic; its partition and offset once acknowledged."""
    delivered: list[tuple[KafkaError | None, Message]] = []
    producer = Producer(producer_config(settings))
    producer.produce(PRODUCT.name, key=key, value=value, on_delivery=lambda e, m: delivered.append((e, m)))
    assert producer.flush(30) == 0
    [(error, message)] = delivered
    assert error is None
    return message.partition() or 0, message.offset() or 0


def _committed(consumer: Consumer, partition: int) -> int | None:
    """The group's committed offset on the product topic; None while the broker still loads the group's state."""
    loading = {
        KafkaError.NOT_COORDINATOR,
        KafkaError.COORDINATOR_LOAD_IN_PROGRESS,
        KafkaError.COORDINATOR_NOT_AVAILABLE,
    }
    try:
        [position] = consumer.committed([TopicPartition(PRODUCT.name, partition)], timeout=10)
    except KafkaException as exc:
        if exc.args[0].code() in loading:
            return None
        raise
    return position.offset


def test_an_existing_topic_with_another_partition_count_is_refused(endpoints: Endpoints) -> None:
    settings = _settings(endpoints.kafka_bootstrap_servers)
    name = f"catalog.test-mismatch-{uuid.uuid4().hex[:8]}.v1"
    admin = AdminClient(client_config(settings))
    admin.create_topics([NewTopic(name, num_partitions=2, replication_factor=-1)])[name].result()
    try:
        wait_until(lambda: name in admin.list_topics(timeout=10).topics)
        registered = Topic(name=name, key="test", partitions=3, event_types=(), description="test")
        with pytest.raises(TopicMismatch, match=rf"topic {name} has 2 partitions, the registry expects 3"):
            ensure_topics(settings, [*TOPICS, registered])
    finally:
        admin.delete_topics([name])[name].result()


def test_the_broker_creates_no_topic_even_for_a_client_that_asks(endpoints: Endpoints, broker_kind: str) -> None:
    if broker_kind == "tansu":
        pytest.skip("Tansu creates any topic a client asks metadata for")
    name = f"catalog.test-unknown-{uuid.uuid4().hex[:8]}.v1"
    # librdkafka producers ask for auto-creation by default; the project's own configs never do.
    asking = Producer({"bootstrap.servers": endpoints.kafka_bootstrap_servers, "allow.auto.create.topics": True})
    metadata = asking.list_topics(name, timeout=10).topics[name]
    assert metadata.error is not None
    assert metadata.error.code() == KafkaError.UNKNOWN_TOPIC_OR_PART
    admin = AdminClient(client_config(_settings(endpoints.kafka_bootstrap_servers)))
    assert name not in admin.list_topics(timeout=10).topics


def test_kafka_keeps_topics_records_and_committed_offsets_across_a_restart(
    tmp_path: Path, stack_config: StackConfig, broker_kind: str
) -> None:
    if broker_kind != "kafka":
        pytest.skip("needs the local Apache Kafka (CATALOG_BROKER=kafka)")
    session_broker = stack_config.broker
    assert isinstance(session_broker, KafkaBroker)
    broker = KafkaBroker(tmp_path, free_port(), lib_dir=install_kafka(session_broker.home))  # the session's jars
    settings = _settings(broker.bootstrap_servers)
    group = {**client_config(settings), "group.id": "catalog-restart-test", "enable.auto.commit": False}
    try:
        broker.start()
        ensure_topics(settings, TOPICS)
        partition, offset = _produce_one(settings, str(uuid.uuid4()).encode(), b"{}")
        consumer = Consumer(group)
        consumer.commit(offsets=[TopicPartition(PRODUCT.name, partition, offset + 1)], asynchronous=False)
        consumer.close()

        assert broker.stop() is True
        broker.start()

        topics = AdminClient(client_config(settings)).list_topics(timeout=10).topics
        assert {t.name: len(topics[t.name].partitions) for t in TOPICS} == {t.name: t.partitions for t in TOPICS}
        consumer = Consumer(group)
        try:
            assert wait_until(lambda: _committed(consumer, partition), timeout=60) == offset + 1
            low, high = consumer.get_watermark_offsets(TopicPartition(PRODUCT.name, partition), timeout=10)
            assert (low, high) == (0, offset + 1)
        finally:
            consumer.close()
    finally:
        broker.stop()
    assert broker.process.pid() is None


def test_tansu_takes_the_registry_topics_and_carries_an_event(tmp_path: Path) -> None:
    broker = TansuBroker(tmp_path, free_port())
    settings = _settings(broker.bootstrap_servers)
    key, value = str(uuid.uuid4()).encode(), b'{"smoke": true}'
    try:
        broker.start()
        ensure_topics(settings, TOPICS)
        partition, _ = _produce_one(settings, key, value)
        consumer = Consumer({**client_config(settings), "group.id": "catalog-smoke", "enable.auto.commit": False})
        try:
            consumer.assign([TopicPartition(PRODUCT.name, partition, OFFSET_BEGINNING)])
            message = wait_until(lambda: consumer.poll(0.5), timeout=30)
            assert message.error() is None
            assert (message.key(), message.value()) == (key, value)
        finally:
            consumer.close()
    finally:
        assert broker.stop() is True  # by the pid in its pid file
    assert broker.process.pid() is None
