"""Dead letters of the stream processors, for operators: read a processor's dead-letter topic and replay records
to where they came from.

Lives in the core kit (confluent-kafka only) so that both the `catalog-dlq` command and the product API's console
use it without the stream runtime. Replaying sends the record as it was first received (key, value, original
headers) back to its original topic; processors are idempotent, so replaying twice is harmless.
"""

import hashlib
from collections.abc import Collection, Iterator
from dataclasses import dataclass

from confluent_kafka import Consumer, Message, Producer, TopicPartition
from jsonschema import ValidationError

from catalog_kit.envelope import EnvelopeError, EventEnvelope
from catalog_kit.kafka import client_config, producer_config
from catalog_kit.settings import CatalogSettings
from catalog_schemas import UnknownEventType, validate_event
from catalog_schemas.topics import dead_letter_topic

DLQ_PREFIX = "dlq_"


@dataclass(frozen=True)
class DeadLetter:
    offset: int
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]]  # as received: header values are bytes
    partition: int = 0

    @property
    def reason(self) -> dict[str, str]:
        return {k: v.decode(errors="replace") for k, v in self.headers if k.startswith(DLQ_PREFIX)}

    @property
    def original_headers(self) -> list[tuple[str, str | bytes | None]]:
        return [(k, v) for k, v in self.headers if not k.startswith(DLQ_PREFIX)]

    @property
    def fingerprint(self) -> str:
        """What the record is, whatever its offset: a topic recreated under the same offsets holds other records."""
        digest = hashlib.sha256()
        for part in (self.key or b"", self.value or b"", *(k.encode() + b"=" + v for k, v in self.headers)):
            digest.update(len(part).to_bytes(8, "big") + part)
        return digest.hexdigest()[:32]


def read(settings: CatalogSettings, processor: str, timeout: float = 10.0) -> Iterator[DeadLetter]:
    """Every dead letter of `processor`, oldest first per partition (up to the end of the topic as it is now)."""
    topic = dead_letter_topic(processor).name
    consumer = Consumer({**client_config(settings), "group.id": "catalog-dlq-reader", "enable.auto.commit": False})
    try:
        partitions = consumer.list_topics(topic, timeout=timeout).topics[topic].partitions
        for partition in sorted(partitions):
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=timeout)
            if high <= low:  # empty: nothing to wait for
                continue
            consumer.assign([TopicPartition(topic, partition, low)])
            while True:
                message: Message | None = consumer.poll(timeout)
                if message is None:  # some brokers report stale high watermarks: an empty poll ends the read
                    break
                if message.error():
                    raise RuntimeError(str(message.error()))
                offset = message.offset() or 0
                yield DeadLetter(offset, message.key(), message.value(), _headers(message), partition)
                if offset >= high - 1:
                    break
    finally:
        consumer.close()


def _headers(message: Message) -> list[tuple[str, bytes]]:
    raw = message.headers() or []
    pairs = raw.items() if isinstance(raw, dict) else raw
    return [(k, v.encode() if isinstance(v, str) else v or b"") for k, v in pairs]


@dataclass(frozen=True)
class Replay:
    """What a replay did: the offsets sent back, and those kept because they still break their contract."""

    sent: list[int]
    refused: dict[int, str]
    sent_letters: tuple[DeadLetter, ...] = ()


def contract_problem(letter: DeadLetter) -> str | None:
    """Why the record would fail again at once (undecodable, or its data breaks its schema); None if it would not."""
    try:
        envelope = EventEnvelope.from_kafka(letter.original_headers, letter.value)
        validate_event(envelope.type, envelope.data)
    except (EnvelopeError, UnknownEventType, ValidationError) as exc:
        message = exc.message if isinstance(exc, ValidationError) else str(exc)
        return f"{type(exc).__name__}: {message}"[:300]
    return None


def replay(
    settings: CatalogSettings,
    processor: str,
    offsets: Collection[int] | None,
    force: bool = False,
    *,
    records: Collection[tuple[int, int]] | None = None,
    letters: Collection[DeadLetter] | None = None,
) -> Replay:
    """Re-publish the chosen dead letters to their original topics: by `offsets` (any partition), by `records`
    ((partition, offset) pairs), or every one when neither is given. `letters` saves reading the topic again.

    A record that still breaks its contract would only be dead-lettered again: it is kept back and reported,
    unless `force`. Returns once the broker acknowledged every record sent (raises otherwise).
    """
    producer = Producer(producer_config(settings))
    sent: list[DeadLetter] = []
    refused: dict[int, str] = {}
    for letter in letters if letters is not None else read(settings, processor):
        if offsets is not None and letter.offset not in offsets:
            continue
        if records is not None and (letter.partition, letter.offset) not in records:
            continue
        problem = None if force else contract_problem(letter)
        if problem:
            refused[letter.offset] = problem
            continue
        producer.produce(
            letter.reason["dlq_topic"], key=letter.key, value=letter.value, headers=letter.original_headers
        )
        sent.append(letter)
    if producer.flush(30):
        raise RuntimeError("not every replayed record was acknowledged")
    return Replay(sent=[letter.offset for letter in sent], refused=refused, sent_letters=tuple(sent))
