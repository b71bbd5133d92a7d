"""Operators list dead letters and replay them to where they came from, with their original headers."""

import uuid

from confluent_kafka import Producer

from catalog_kit.settings import CatalogSettings
from catalog_schemas.topics import PRODUCT, dead_letter_topic
from catalog_stack.infra import Endpoints
from catalog_stream.dead_letters import read, replay
from tests.support import consume


def test_list_and_replay(endpoints: Endpoints) -> None:
    settings = CatalogSettings(
        database_url=endpoints.database_url, kafka_bootstrap_servers=endpoints.kafka_bootstrap_servers
    )
    key = str(uuid.uuid4())
    original = [
        ("ce_specversion", b"1.0"),
        ("ce_id", str(uuid.uuid4()).encode()),
        ("ce_type", b"product.deleted"),
        ("ce_source", b"/test"),
        ("ce_time", b"2026-11-24T10:00:00+00:00"),
        ("ce_subject", key.encode()),
    ]
    value = f'{{"id": "{key}", "sku": "X-1", "version": 2, "deleted_at": "2026-11-24T10:00:00+00:00"}}'.encode()
    reason = [
        ("dlq_processor", b"enricher"),
        ("dlq_error", b"RuntimeError: database down"),
        ("dlq_attempts", b"4"),
        ("dlq_topic", PRODUCT.name.encode()),
        ("dlq_partition", b"0"),
        ("dlq_offset", b"7"),
        ("dlq_time", b"0"),
    ]
    producer = Producer({"bootstrap.servers": endpoints.kafka_bootstrap_servers})
    producer.produce(dead_letter_topic("enricher").name, key=key.encode(), value=value, headers=[*original, *reason])
    assert producer.flush(10) == 0

    [letter] = [d for d in read(settings, "enricher", timeout=5) if d.key == key.encode()]
    assert letter.reason["dlq_error"] == "RuntimeError: database down"
    assert letter.original_headers == original

    assert replay(settings, "enricher", [letter.offset]).sent == [letter.offset]
    [record] = consume(endpoints.kafka_bootstrap_servers, PRODUCT.name, [key], expected=1)
    assert record.event.type == "product.deleted"
    assert not any(h.startswith("dlq_") for h in record.headers)


def test_a_replay_keeps_back_records_that_still_break_their_contract(endpoints: Endpoints) -> None:
    settings = CatalogSettings(
        database_url=endpoints.database_url, kafka_bootstrap_servers=endpoints.kafka_bootstrap_servers
    )
    key = str(uuid.uuid4())
    headers = [
        ("ce_specversion", b"1.0"),
        ("ce_id", str(uuid.uuid4()).encode()),
        ("ce_type", b"product.deleted"),
        ("ce_source", b"/test"),
        ("ce_time", b"2026-11-24T10:00:00+00:00"),
        ("ce_subject", key.encode()),
    ]
    reason = [("dlq_processor", b"indexer"), ("dlq_error", b"ValidationError"), ("dlq_topic", PRODUCT.name.encode())]
    producer = Producer({"bootstrap.servers": endpoints.kafka_bootstrap_servers})
    topic = dead_letter_topic("indexer").name
    producer.produce(topic, key=key.encode(), value=b'{"id": "not-a-uuid"}', headers=[*headers, *reason])
    assert producer.flush(10) == 0
    [letter] = [d for d in read(settings, "indexer", timeout=5) if d.key == key.encode()]

    kept = replay(settings, "indexer", [letter.offset])
    assert kept.sent == []
    assert "ValidationError" in kept.refused[letter.offset]
    forced = replay(settings, "indexer", [letter.offset], force=True)
    assert forced.sent == [letter.offset]  # acknowledged by the broker, or replay would have raised
