"""Dead letters for operators: `catalog-dlq list <processor>` and `catalog-dlq replay <processor> --offset N`.

Replaying sends the record as it was first received (key, value, original headers) back to its original topic;
processors are idempotent, so replaying twice is harmless.
"""

import argparse
import json
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from confluent_kafka import Consumer, Message, Producer, TopicPartition
from jsonschema import ValidationError

from catalog_kit.envelope import EnvelopeError, EventEnvelope
from catalog_kit.kafka import client_config, producer_config
from catalog_kit.settings import CatalogSettings
from catalog_schemas import UnknownEventType, validate_event
from catalog_schemas.topics import PROCESSORS, dead_letter_topic

_DLQ_PREFIX = "dlq_"


@dataclass(frozen=True)
class DeadLetter:
    offset: int
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]]  # as received: header values are bytes

    @property
    def reason(self) -> dict[str, str]:
        return {k: v.decode(errors="replace") for k, v in self.headers if k.startswith(_DLQ_PREFIX)}

    @property
    def original_headers(self) -> list[tuple[str, str | bytes | None]]:
        return [(k, v) for k, v in self.headers if not k.startswith(_DLQ_PREFIX)]


def read(settings: CatalogSettings, processor: str, timeout: float = 10.0) -> Iterator[DeadLetter]:
    """Every dead letter of `processor`, oldest first (reads up to the end of the topic as it is now)."""
    topic = dead_letter_topic(processor).name
    consumer = Consumer({**client_config(settings), "group.id": "catalog-dlq-reader", "enable.auto.commit": False})
    try:
        partitions = consumer.list_topics(topic, timeout=timeout).topics[topic].partitions
        for partition in partitions:
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=timeout)
            consumer.assign([TopicPartition(topic, partition, low)])
            while True:
                message: Message | None = consumer.poll(timeout)
                if message is None:  # some brokers report stale high watermarks: an empty poll ends the read
                    break
                if message.error():
                    raise RuntimeError(str(message.error()))
                yield DeadLetter(message.offset() or 0, message.key(), message.value(), _headers(message))
                if high and (message.offset() or 0) >= high - 1:
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


def contract_problem(letter: DeadLetter) -> str | None:
    """Why the record would fail again at once (undecodable, or its data breaks its schema); None if it would not."""
    try:
        envelope = EventEnvelope.from_kafka(letter.original_headers, letter.value)
        validate_event(envelope.type, envelope.data)
    except (EnvelopeError, UnknownEventType, ValidationError) as exc:
        message = exc.message if isinstance(exc, ValidationError) else str(exc)
        return f"{type(exc).__name__}: {message}"[:300]
    return None


def replay(settings: CatalogSettings, processor: str, offsets: Sequence[int] | None, force: bool = False) -> Replay:
    """Re-publish the chosen dead letters (all when `offsets` is None) to their original topics.

    A record that still breaks its contract would only be dead-lettered again: it is kept back and reported,
    unless `force`.
    """
    producer = Producer(producer_config(settings))
    result = Replay(sent=[], refused={})
    for letter in read(settings, processor):
        if offsets is not None and letter.offset not in offsets:
            continue
        problem = None if force else contract_problem(letter)
        if problem:
            result.refused[letter.offset] = problem
            continue
        producer.produce(
            letter.reason["dlq_topic"], key=letter.key, value=letter.value, headers=letter.original_headers
        )
        result.sent.append(letter.offset)
    if producer.flush(30):
        raise RuntimeError("not every replayed record was acknowledged")
    return result


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="catalog-dlq", description=__doc__)
    parser.add_argument("command", choices=["list", "replay"])
    parser.add_argument("processor", choices=PROCESSORS)
    parser.add_argument("--offset", type=int, action="append", help="replay only these offsets (repeatable)")
    parser.add_argument("--all", action="store_true", help="replay every dead letter")
    parser.add_argument("--force", action="store_true", help="also replay records that still break their contract")
    args = parser.parse_args(argv)
    settings = CatalogSettings()
    if args.command == "list":
        for letter in read(settings, args.processor):
            print(
                json.dumps(
                    {"offset": letter.offset, "key": (letter.key or b"").decode(errors="replace"), **letter.reason}
                )
            )
        return
    if not args.all and not args.offset:
        sys.exit("replay needs --offset N (repeatable) or --all")
    result = replay(settings, args.processor, None if args.all else args.offset, force=args.force)
    print(f"replayed {len(result.sent)} record(s)")
    if result.refused:
        print(f"kept back {len(result.refused)} record(s) that still break their contract (--force sends them):")
        for offset, problem in sorted(result.refused.items()):
            print(f"  offset {offset}: {problem}")
        sys.exit(3)
