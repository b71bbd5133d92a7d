"""Helpers for tests against the real broker: wait with a deadline, read events, check their contracts."""

import asyncio
import contextlib
import json
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from aiokafka import AIOKafkaConsumer
from prometheus_client.parser import text_string_to_metric_families

from catalog_kit.envelope import EventEnvelope
from catalog_schemas import validate_event

T = TypeVar("T")


def wait_until(probe: Callable[[], T | None], timeout: float = 15.0, interval: float = 0.05) -> T:
    """Poll `probe` until it returns something truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = probe()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(interval)


@dataclass(frozen=True)
class Consumed:
    key: str
    partition: int
    offset: int
    headers: dict[str, str]
    event: EventEnvelope


def consume(
    bootstrap: str,
    topic: str,
    keys: Collection[str],
    expected: int,
    timeout: float = 60.0,
    types: Collection[str] | None = None,
) -> list[Consumed]:
    """Read `topic` from the start until `expected` records with one of `keys` arrived (or the deadline passed).

    Every record read is decoded as a CloudEvent and validated against the JSON Schema of its type.
    """
    return asyncio.run(_consume(bootstrap, topic, set(keys), expected, timeout, types))


async def _consume(
    bootstrap: str, topic: str, keys: set[str], expected: int, wait_s: float, types: Collection[str] | None
) -> list[Consumed]:
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        group_id=None,
        isolation_level="read_committed",
    )
    await consumer.start()
    found: list[Consumed] = []
    deadline = time.monotonic() + wait_s
    try:
        while len(found) < expected and time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=500, max_records=5000)
            for records in batches.values():
                for record in records:
                    key = (record.key or b"").decode()
                    if key not in keys:
                        continue
                    headers = {k: v.decode() for k, v in record.headers}
                    event = EventEnvelope.from_kafka(record.headers, record.value)
                    validate_event(event.type, event.data)
                    if types is not None and event.type not in types:
                        continue
                    found.append(Consumed(key, record.partition, record.offset, headers, event))
    finally:
        await consumer.stop()
    return found


def versions_by_key(records: list[Consumed]) -> dict[str, list[int]]:
    """Each key's event versions in the order they were consumed (per partition order = per key order)."""
    out: dict[str, list[int]] = {}
    for r in sorted(records, key=lambda r: (r.partition, r.offset)):
        out.setdefault(r.key, []).append(int(r.event.data["version"]))
    return out


def first_seen(seq: list[Any]) -> list[Any]:
    """`seq` with repeats of an already-seen value dropped."""
    return list(dict.fromkeys(seq))


def log_entries(path: Path) -> list[dict[str, Any]]:
    """The JSON log lines a service wrote so far (a line still being written is skipped)."""
    entries = []
    for line in path.read_text().splitlines():
        with contextlib.suppress(ValueError):
            entry = json.loads(line)
            if isinstance(entry, dict):
                entries.append(entry)
    return entries


def metric(text: str, name: str, **labels: str) -> float | None:
    """One sample of a Prometheus exposition, or None when it is not there."""
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return float(sample.value)
    return None
