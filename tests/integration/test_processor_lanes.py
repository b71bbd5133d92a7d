"""The processor runtime on the real broker: the interactive lane goes before a bulk backlog, batches isolate a bad
record, and nothing is lost or handled out of order per product."""

import asyncio
import secrets
import uuid
from collections.abc import Sequence

from confluent_kafka import Producer
from prometheus_client import REGISTRY

from catalog_kit.envelope import EventEnvelope
from catalog_kit.kafka import ensure_topics
from catalog_schemas import Lane
from catalog_schemas.topics import PRODUCT, PRODUCT_BULK, dead_letter_topic
from catalog_stack.infra import Endpoints
from catalog_stream.processor import PermanentFailure, Processor, ProcessorSettings
from tests.support import consume


def produce(bootstrap: str, lane: Lane, keys: Sequence[str], version: int = 2) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 20})
    topic = PRODUCT_BULK if lane is Lane.BULK else PRODUCT
    for key in keys:
        envelope = EventEnvelope(
            type="product.deleted",
            source="/test",
            subject=key,
            data={"id": key, "sku": "LANE-1", "version": version, "deleted_at": "2026-12-05T00:00:00+00:00"},
            lane=lane,
        )
        producer.produce(topic.name, key=key.encode(), value=envelope.body(), headers=list(envelope.headers().items()))
    assert producer.flush(30) == 0


def processor_for(endpoints: Endpoints, **settings: object) -> Processor:
    name = f"lanes{secrets.token_hex(3)}"
    config = ProcessorSettings(
        database_url=endpoints.database_url,
        kafka_bootstrap_servers=endpoints.kafka_bootstrap_servers,
        **settings,  # type: ignore[arg-type]
    )
    ensure_topics(config, [dead_letter_topic(name)])
    return Processor(name, config)


async def run_until(processor: Processor, done: asyncio.Event, deadline_s: float = 120.0) -> None:
    serving = asyncio.create_task(processor.serve())
    try:
        await asyncio.wait_for(done.wait(), deadline_s)
    finally:
        processor.stop()
        await asyncio.wait_for(serving, 60)


def test_an_interactive_record_goes_before_the_bulk_backlog(endpoints: Endpoints) -> None:
    bulk = [str(uuid.uuid4()) for _ in range(2000)]
    interactive = str(uuid.uuid4())
    ours = {*bulk, interactive}
    produce(endpoints.kafka_bootstrap_servers, Lane.BULK, bulk)
    processor = processor_for(endpoints, consumer_max_batch=50)
    handled: list[tuple[Lane, str]] = []
    done, sent = asyncio.Event(), asyncio.Event()

    async def handle(events: Sequence[EventEnvelope]) -> None:
        mine = [e for e in events if e.subject in ours]
        if mine:
            await asyncio.sleep(0.05)  # a slow batch: the backlog takes seconds, the interactive record arrives in it
        handled.extend((e.lane, e.subject) for e in mine)
        if handled and not sent.is_set():
            sent.set()
            await asyncio.to_thread(produce, endpoints.kafka_bootstrap_servers, Lane.INTERACTIVE, [interactive])
        if {s for _, s in handled} >= ours:
            done.set()

    processor.batch_agent(PRODUCT, handle)
    asyncio.run(run_until(processor, done))

    order = [subject for _, subject in handled]
    assert set(order) == ours
    position = order.index(interactive)
    assert position < len(bulk) // 2, f"the interactive record waited behind {position} bulk records"
    assert (Lane.INTERACTIVE, interactive) in handled


def test_a_bad_record_is_dead_lettered_alone_and_its_batch_is_applied(endpoints: Endpoints) -> None:
    keys = [str(uuid.uuid4()) for _ in range(200)]
    poison = keys[77]
    produce(endpoints.kafka_bootstrap_servers, Lane.BULK, keys)
    processor = processor_for(endpoints, consumer_max_batch=100)
    applied: list[str] = []
    batch_sizes: list[int] = []
    done = asyncio.Event()

    async def handle(events: Sequence[EventEnvelope]) -> None:
        mine = [e.subject for e in events if e.subject in keys]
        batch_sizes.append(len(events))
        if poison in mine:
            raise PermanentFailure("this record breaks its contract")  # all or nothing: the batch applies nothing
        applied.extend(mine)
        if set(applied) == set(keys) - {poison}:
            done.set()

    processor.batch_agent(PRODUCT, handle)
    asyncio.run(run_until(processor, done))

    assert set(applied) == set(keys) - {poison}
    assert max(batch_sizes) > 1  # records did arrive in batches
    [letter] = consume(
        endpoints.kafka_bootstrap_servers, dead_letter_topic(processor.name).name, [poison], expected=1, timeout=30
    )
    assert letter.headers["dlq_processor"] == processor.name
    assert "breaks its contract" in letter.headers["dlq_error"]

    def metric(name: str, **labels: str) -> float:
        return REGISTRY.get_sample_value(name, {"processor": processor.name, **labels}) or 0.0

    # The metrics say the same: a dead letter (more than one only if a rebalance handed the poisoned batch over
    # again: at least once), no retries (a broken contract is not retried), the poisoned batch handled record by
    # record, every record counted.
    assert metric("catalog_consumer_dead_letters_total") >= 1
    assert metric("catalog_consumer_retries_total") == 0
    assert metric("catalog_consumer_batch_seconds_count", lane="bulk", outcome="isolated") >= 1
    assert metric("catalog_consumer_batch_seconds_count", lane="bulk", outcome="ok") >= 1
    assert metric("catalog_consumer_records_total", topic=PRODUCT_BULK.name, lane="bulk") >= len(keys)
