#!/usr/bin/env python
"""Outbox relay benchmark: events/s draining a pre-filled outbox, beside a raw producer sending the same records.

What is measured, in one run against the `make run` PostgreSQL server and broker (nothing of theirs is touched):

1. Set-up (not timed as a result): a scratch database `catalog_bench_relay_<run>` on the same PostgreSQL server,
   brought to the catalog schema with the product API's migrations; two dedicated 6-partition topics,
   `bench.relay.<run>` (relay) and `bench.relay.<run>-raw` (raw baseline). The outbox is filled in one
   `INSERT ... SELECT generate_series` with `--rows` events spread over `--products` aggregates (keys): the first
   event of a product is `product.created`, later ones `product.updated`, each with a full product snapshot
   (~600 bytes of JSON) and the CloudEvents headers `EventEnvelope.headers()` gives, with a fresh `ce_id`,
   `ce_subject` and `ce_time` per row. Then `VACUUM ANALYZE outbox`.
2. Relay: `build(RelaySettings(database_url=<scratch>, relay_batch_size=--batch-size)).run(stop)` in a
   thread of this process, timed from the thread's start until `SELECT count(*) FROM outbox WHERE published_at
   IS NULL` (polled every 0.2 s) is 0. The time to the last `published_at` mark (no polling granularity) is
   printed too.
3. Raw baseline: the same rows (`id, topic, aggregate_id, payload::text, headers`, as the relay reads them) are
   loaded into memory first; then timed: a confluent-kafka producer with the same `producer_config` (idempotent,
   acks=all, linger 5 ms) produces them with the same keys, values and headers, with a delivery callback and
   `poll(0)` per record like the relay, and a final `flush()`.

Printed: rows, seconds, events/s for both, the ratio relay / raw, the script's peak RSS (`getrusage`; the relay
runs inside this process), and a read-back of both topics (records, distinct `ce_id`, per-key order violations),
consumed from the start because the local broker's high watermarks are not reliable. The scratch database and
both topics are removed at the end.

    .venv/bin/python bench/relay.py [--rows 100000] [--products 1000] [--batch-size 2000]
"""

from __future__ import annotations

import argparse
import json
import resource
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import psycopg
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Message, Producer, TopicPartition
from confluent_kafka.admin import AdminClient
from process_stats import Phase
from psycopg.types.json import Jsonb
from sqlalchemy.engine import make_url

from catalog_core.adapters.migrations import upgrade
from catalog_kit.db import libpq_conninfo
from catalog_kit.envelope import EventEnvelope
from catalog_kit.kafka import client_config, ensure_topics, producer_config
from catalog_kit.settings import CatalogSettings
from catalog_relay.entrypoints.bootstrap import build
from catalog_relay.settings import RelaySettings
from catalog_schemas.topics import Topic

PARTITIONS = 6
POLL_INTERVAL_S = 0.2
SOURCE = "/catalog/product-api"
DESCRIPTION = "Relaxed fit tee in washed linen."

# One statement fills the outbox: `e` numbers the events, spreads them over the products (product n gets events
# n, n + products, ...) and gives each a version, a fresh event id and a timestamp; the headers are the
# envelope's with the per-event attributes replaced.
FILL_SQL = """
INSERT INTO outbox (event_id, aggregate_type, aggregate_id, event_type, topic, payload, headers, created_at)
SELECT
    e.event_id,
    'product',
    e.product_id,
    CASE WHEN e.version = 1 THEN 'product.created' ELSE 'product.updated' END,
    %(topic)s,
    jsonb_build_object(
        'id', e.product_id,
        'sku', 'BENCH-' || %(run)s || '-' || e.n,
        'name', 'Linen tee ' || e.n,
        'brand', 'Acme',
        'description', %(description)s::text,
        'price', ((1990 + e.version) / 100.0)::numeric(12, 2)::text,
        'currency', 'EUR',
        'stock', e.g %% 50,
        'attributes', jsonb_build_object('color', 'red', 'size', 'M', 'material', 'linen', 'fit', 'relaxed'),
        'images', jsonb_build_array(
            'https://img.example/products/' || e.product_id || '/1.jpg',
            'https://img.example/products/' || e.product_id || '/2.jpg'),
        'status', 'active',
        'variants', '[]'::jsonb,
        'version', e.version,
        'created_at', e.created,
        'updated_at', e.at
    ),
    CASE WHEN e.version = 1 THEN %(created_headers)s::jsonb ELSE %(updated_headers)s::jsonb END
        || jsonb_build_object('ce_id', e.event_id::text, 'ce_subject', e.product_id, 'ce_time', e.at),
    e.ts
FROM (
    SELECT
        s.g, s.n, s.version, s.event_id, s.product_id, s.ts,
        to_char(s.ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"') AS at,
        to_char(%(t0)s::timestamptz AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"') AS created
    FROM (
        SELECT
            g,
            g %% %(products)s AS n,
            g / %(products)s + 1 AS version,
            gen_random_uuid() AS event_id,
            md5(%(run)s || '-' || (g %% %(products)s))::uuid::text AS product_id,
            %(t0)s::timestamptz + g * interval '1 millisecond' AS ts
        FROM generate_series(0, %(rows)s - 1) AS g
    ) AS s
) AS e
"""

UNPUBLISHED_SQL = "SELECT count(*) FROM outbox WHERE published_at IS NULL"

# key, value, headers of one Kafka record, as confluent-kafka takes them
Record = tuple[bytes, bytes, list[tuple[str, str | bytes | None]]]


@dataclass
class Deliveries:
    """Counts delivery reports of the raw producer."""

    delivered: int = 0
    failed: int = 0
    first_error: str | None = None

    def report(self, err: KafkaError | None, _: Message) -> None:
        if err is None:
            self.delivered += 1
        else:
            self.failed += 1
            self.first_error = self.first_error or str(err)


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def envelope_headers(event_type: str, run: str) -> dict[str, str]:
    """Header template of an event type, as the outbox writer stores them (per-event fields replaced in SQL)."""
    return EventEnvelope(type=event_type, source=SOURCE, subject=f"bench-{run}", data={}).headers()


def create_database(admin_conninfo: str, name: str) -> None:
    with psycopg.connect(admin_conninfo, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')


def drop_database(admin_conninfo: str, name: str) -> None:
    with psycopg.connect(admin_conninfo, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def fill_outbox(conninfo: str, run: str, topic: str, rows: int, products: int) -> tuple[float, float, float]:
    """Insert the events; returns (seconds, mean payload bytes, mean headers bytes as stored JSON)."""
    params: dict[str, Any] = {
        "topic": topic,
        "run": run,
        "rows": rows,
        "products": products,
        "description": DESCRIPTION,
        "t0": datetime.now(UTC),
        "created_headers": Jsonb(envelope_headers("product.created", run)),
        "updated_headers": Jsonb(envelope_headers("product.updated", run)),
    }
    started = time.perf_counter()
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(FILL_SQL, params)
        conn.execute("VACUUM ANALYZE outbox")
        elapsed = time.perf_counter() - started
        row = conn.execute(
            "SELECT avg(octet_length(payload::text)), avg(octet_length(headers::text)) FROM outbox"
        ).fetchone()
    assert row is not None
    return elapsed, float(row[0]), float(row[1])


def run_relay(conninfo: str, settings: RelaySettings, rows: int, timeout: float) -> tuple[Phase, Phase, int]:
    """Drain the outbox with the real relay; returns the polled phase, the to-last-mark phase, rows marked."""
    relay = build(settings)
    stop = threading.Event()
    failures: list[BaseException] = []

    def target() -> None:
        try:
            relay.run(stop)
        except BaseException as exc:
            failures.append(exc)

    thread = threading.Thread(target=target, name="bench-relay", daemon=True)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        started_db = conn.execute("SELECT clock_timestamp()").fetchone()
        assert started_db is not None
        started = time.perf_counter()
        thread.start()
        deadline = time.monotonic() + timeout
        try:
            while True:
                count = conn.execute(UNPUBLISHED_SQL).fetchone()
                if count is not None and count[0] == 0:
                    break
                if failures or not thread.is_alive():
                    raise RuntimeError(f"the relay stopped before draining the outbox: {failures[:1]}")
                if time.monotonic() > deadline:
                    raise TimeoutError(f"outbox not drained after {timeout}s ({count} rows left)")
                time.sleep(POLL_INTERVAL_S)
            polled = time.perf_counter() - started
        finally:
            stop.set()
            thread.join(timeout=60)
        last = conn.execute(
            "SELECT extract(epoch FROM max(published_at) - %s) FROM outbox", (started_db[0],)
        ).fetchone()
        assert last is not None
    if thread.is_alive():
        print("warning: the relay thread did not stop within 60 s")
    return (
        Phase("relay (polled until empty)", rows, polled),
        Phase("relay (to last published_at)", rows, float(last[0])),
        relay.health.published_total,
    )


def load_rows(conninfo: str) -> list[Record]:
    """The rows as the relay reads them, turned into (key, value, headers) ready to produce."""
    with psycopg.connect(conninfo, autocommit=True) as conn:
        rows = conn.execute("SELECT id, topic, aggregate_id, payload::text, headers FROM outbox ORDER BY id").fetchall()
    records: list[Record] = []
    for _, _, key, payload, headers in rows:
        header_list: list[tuple[str, str | bytes | None]] = list(headers.items())
        records.append((key.encode(), payload.encode(), header_list))
    return records


def run_raw(settings: CatalogSettings, topic: str, messages: list[Record]) -> tuple[Phase, Deliveries]:
    deliveries = Deliveries()
    report: Callable[[KafkaError | None, Message], None] = deliveries.report
    started = time.perf_counter()
    producer = Producer(producer_config(settings, **{"client.id": "bench-raw"}))
    for key, value, headers in messages:
        while True:
            try:
                producer.produce(topic, value=value, key=key, headers=headers, on_delivery=report)
                break
            except BufferError:
                producer.poll(0.05)
        producer.poll(0)
    remaining = producer.flush(60)
    elapsed = time.perf_counter() - started
    if remaining:
        print(f"warning: {remaining} raw records still undelivered after flush(60)")
    return Phase("raw confluent-kafka producer", len(messages), elapsed), deliveries


@dataclass
class TopicCheck:
    """What a topic holds, read back from the beginning of every partition."""

    records: int = 0
    distinct_events: int = 0
    order_violations: int = 0  # a record whose version is below an earlier one of the same key


def read_back(settings: CatalogSettings, topic: str, timeout: float = 120.0) -> TopicCheck:
    """Consume a topic from the start until it stays quiet for 2 s (the broker's offsets are not trusted)."""
    consumer = Consumer(
        {
            **client_config(settings),
            "group.id": f"bench-{uuid.uuid4().hex}",
            "enable.auto.commit": False,
            "queued.max.messages.kbytes": 8192,  # bounded prefetch per partition
        }
    )
    check = TopicCheck()
    events: set[str] = set()
    versions: dict[bytes, int] = {}
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(PARTITIONS)])
    deadline = time.monotonic() + timeout
    quiet_since = time.monotonic()
    try:
        while time.monotonic() < deadline and time.monotonic() - quiet_since < 2.0:
            batch = consumer.consume(num_messages=5000, timeout=0.5)
            for message in batch:
                if message.error() is not None:
                    continue
                check.records += 1
                headers = dict(message.headers() or [])
                event_id = headers.get("ce_id") or b""
                events.add(event_id.decode() if isinstance(event_id, bytes) else event_id)
                key = message.key() or b""
                version = int(json.loads(message.value() or b"{}").get("version", 0))
                if version < versions.get(key, 0):
                    check.order_violations += 1
                versions[key] = max(version, versions.get(key, 0))
            if batch:
                quiet_since = time.monotonic()
    finally:
        consumer.close()
    check.distinct_events = len(events)
    return check


def delete_topics(settings: CatalogSettings, names: list[str]) -> str:
    admin = AdminClient(client_config(settings))
    try:
        for future in admin.delete_topics(names, operation_timeout=30).values():
            future.result(timeout=30)
    except Exception as exc:
        return f"not deleted ({exc})"
    return "deleted"


def main() -> None:
    defaults = RelaySettings()
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=100_000, help="outbox rows to drain (default 100000)")
    parser.add_argument("--products", type=int, default=1000, help="distinct aggregates / keys (default 1000)")
    parser.add_argument(
        "--batch-size",
        type=int,
        default=defaults.relay_batch_size,
        help=f"the relay's relay_batch_size (default {defaults.relay_batch_size}, RelaySettings')",
    )
    parser.add_argument("--timeout", type=float, default=600.0, help="give up draining after this many seconds")
    args = parser.parse_args()
    if not 1 <= args.rows <= 5_000_000 or not 1 <= args.products <= args.rows or not 1 <= args.batch_size <= 100_000:
        parser.error("bounds: 1 <= --rows <= 5e6, 1 <= --products <= --rows, 1 <= --batch-size <= 1e5")

    settings = CatalogSettings()
    run = uuid.uuid4().hex[:8]
    db_name = f"catalog_bench_relay_{run}"
    scratch_url = (
        make_url(settings.database_url.get_secret_value()).set(database=db_name).render_as_string(hide_password=False)
    )
    admin_conninfo = libpq_conninfo(settings.database_url)
    scratch_conninfo = libpq_conninfo(scratch_url)
    relay_topic = Topic(
        name=f"bench.relay.{run}", key="product id", partitions=PARTITIONS, event_types=(), description="bench"
    )
    raw_topic = Topic(
        name=f"bench.relay.{run}-raw", key="product id", partitions=PARTITIONS, event_types=(), description="bench"
    )
    print(
        f"run {run}: database {db_name}, broker {settings.kafka_bootstrap_servers}, "
        f"topics {relay_topic.name}, {raw_topic.name}"
    )

    create_database(admin_conninfo, db_name)
    topics_created = False
    try:
        upgrade(scratch_url)
        ensure_topics(settings, [relay_topic, raw_topic])
        topics_created = True
        fill_s, payload_bytes, header_bytes = fill_outbox(
            scratch_conninfo, run, relay_topic.name, args.rows, args.products
        )
        print(f"  filled {args.rows} rows over {args.products} products in {fill_s:.2f} s (incl. VACUUM ANALYZE)")

        relay_settings = RelaySettings(database_url=scratch_url, relay_batch_size=args.batch_size)
        polled, to_last_mark, marked = run_relay(scratch_conninfo, relay_settings, args.rows, args.timeout)
        rss_after_relay = peak_rss_mib()
        print(f"  relay drained the outbox: {polled.rate:.0f} events/s ({marked} rows marked)")

        messages = load_rows(scratch_conninfo)
        raw, deliveries = run_raw(settings, raw_topic.name, messages)
        rss_after_raw = peak_rss_mib()
        print(f"  raw producer done: {raw.rate:.0f} events/s")
        key_bytes = sum(len(k) for k, _, _ in messages) / len(messages)
        value_bytes = sum(len(v) for _, v, _ in messages) / len(messages)
        kafka_header_bytes = sum(sum(len(k) + len(v or b"") for k, v in h) for _, _, h in messages) / len(messages)
        relay_check = read_back(settings, relay_topic.name)
        raw_check = read_back(settings, raw_topic.name)
    finally:
        drop_database(admin_conninfo, db_name)
        topics = delete_topics(settings, [relay_topic.name, raw_topic.name]) if topics_created else "none created"

    print()
    print(
        f"outbox relay vs raw producer: {args.rows} events, {args.products} keys, {PARTITIONS} partitions, "
        f"relay batch size {args.batch_size}"
    )
    print(
        f"record sizes (mean): key {key_bytes:.0f} B, value {value_bytes:.0f} B, headers {kafka_header_bytes:.0f} B "
        f"(stored JSON: payload {payload_bytes:.0f} B, headers {header_bytes:.0f} B)"
    )
    header = f"{'phase':<32}{'rows':>10}{'seconds':>10}{'events/s':>12}"
    print(header)
    print("-" * len(header))
    for phase in (polled, to_last_mark, raw):
        print(f"{phase.name:<32}{phase.rows:>10}{phase.seconds:>10.2f}{phase.rate:>12.0f}")
    print("-" * len(header))
    print(
        f"ratio relay / raw events/s: {polled.rate / raw.rate:.3f} (polled), "
        f"{to_last_mark.rate / raw.rate:.3f} (to last published_at)"
    )
    print(f"rows marked published by the relay: {marked}")
    print(
        f"raw deliveries: {deliveries.delivered} ok, {deliveries.failed} failed {deliveries.first_error or ''}".rstrip()
    )
    for name, check in (("relay", relay_check), ("raw", raw_check)):
        print(
            f"read back from the {name} topic: {check.records} records, {check.distinct_events} distinct ce_id, "
            f"{check.order_violations} per-key order violations"
        )
    print(
        f"peak RSS of this script: {rss_after_relay:.1f} MiB after the relay phase, {rss_after_raw:.1f} MiB after "
        f"the raw phase (rows held in memory), {peak_rss_mib():.1f} MiB at the end (after the read-back)"
    )
    print(f"scratch database {db_name} dropped; topics {topics}")


if __name__ == "__main__":
    main()
