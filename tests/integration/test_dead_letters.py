"""Operators list dead letters and replay them to where they came from, with their original headers."""

import uuid

from confluent_kafka import Producer

from catalog_kit.settings import CatalogSettings
from catalog_schemas.topics import PRODUCT, dead_letter_topic
from catalog_stack.infra import Endpoints
from catalog_stream.dead_letters import DeadLetter, read, replay
from tests.support import consume


def settings_of(endpoints: Endpoints) -> CatalogSettings:
    return CatalogSettings(
        database_url=endpoints.database_url, kafka_bootstrap_servers=endpoints.kafka_bootstrap_servers
    )


def original_headers(key: str) -> list[tuple[str, bytes]]:
    return [
        ("ce_specversion", b"1.0"),
        ("ce_id", str(uuid.uuid4()).encode()),
        ("ce_type", b"product.deleted"),
        ("ce_source", b"/test"),
        ("ce_time", b"2026-11-24T10:00:00+00:00"),
        ("ce_subject", key.encode()),
    ]


def dead_letter(endpoints: Endpoints, processor: str, key: str, value: bytes, error: str) -> DeadLetter:
    """A record as `processor` would have dead-lettered it, read back through the operators' tool."""
    reason = [
        ("dlq_processor", processor.encode()),
        ("dlq_error", error.encode()),
        ("dlq_attempts", b"4"),
        ("dlq_topic", PRODUCT.name.encode()),
        ("dlq_partition", b"0"),
        ("dlq_offset", b"7"),
        ("dlq_time", b"0"),
    ]
    producer = Producer({"bootstrap.servers": endpoints.kafka_bootstrap_servers})
    topic = dead_letter_topic(processor).name
    producer.produce(topic, key=key.encode(), value=value, headers=[*original_headers(key), *reason])
    assert producer.flush(10) == 0
    [letter] = [d for d in read(settings_of(endpoints), processor, timeout=5) if d.key == key.encode()]
    return letter


def test_list_and_replay(endpoints: Endpoints) -> None:
    key = str(uuid.uuid4())
    value = f'{{"id": "{key}", "sku": "X-1", "version": 2, "deleted_at": "2026-11-24T10:00:00+00:00"}}'.encode()
    letter = dead_letter(endpoints, "enricher", key, value, "RuntimeError: database down")
    assert letter.reason["dlq_error"] == "RuntimeError: database down"
    assert [name for name, _ in letter.original_headers] == [name for name, _ in original_headers(key)]

    assert replay(settings_of(endpoints), "enricher", [letter.offset]).sent == [letter.offset]
    [record] = consume(endpoints.kafka_bootstrap_servers, PRODUCT.name, [key], expected=1)
    assert record.event.type == "product.deleted"
    assert not any(h.startswith("dlq_") for h in record.headers)


def test_a_replay_keeps_back_records_that_still_break_their_contract(endpoints: Endpoints) -> None:
    key = str(uuid.uuid4())
    letter = dead_letter(endpoints, "indexer", key, b'{"id": "not-a-uuid"}', "PermanentFailure: breaks its contract")

    kept = replay(settings_of(endpoints), "indexer", [letter.offset])
    assert kept.sent == []
    assert "ValidationError" in kept.refused[letter.offset]
    forced = replay(settings_of(endpoints), "indexer", [letter.offset], force=True)
    assert forced.sent == [letter.offset]  # acknowledged by the broker, or replay would have raised
