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

from catalog_kit.kafka import client_config, producer_config
from catalog_kit.settings import CatalogSettings
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


def replay(settings: CatalogSettings, processor: str, offsets: Sequence[int] | None) -> int:
    """Re-publish the chosen dead letters (all when `offsets` is None) to their original topics."""
    producer = Producer(producer_config(settings))
    sent = 0
    for letter in read(settings, processor):
        if offsets is not None and letter.offset not in offsets:
            continue
        producer.produce(
            letter.reason["dlq_topic"], key=letter.key, value=letter.value, headers=letter.original_headers
        )
        sent += 1
    if producer.flush(30):
        raise RuntimeError("not every replayed record was acknowledged")
    return sent


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="catalog-dlq", description=__doc__)
    parser.add_argument("command", choices=["list", "replay"])
    parser.add_argument("processor", choices=PROCESSORS)
    parser.add_argument("--offset", type=int, action="append", help="replay only these offsets (repeatable)")
    parser.add_argument("--all", action="store_true", help="replay every dead letter")
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
    print(f"replayed {replay(settings, args.processor, None if args.all else args.offset)} record(s)")
