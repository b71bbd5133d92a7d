"""The outbox relay against the real PostgreSQL and broker: order, late commits, clean-up, failover."""

import json
import os
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session

from catalog_kit.db import libpq_conninfo
from catalog_kit.envelope import EventEnvelope
from catalog_kit.kafka import producer_config
from catalog_kit.outbox import OutboxWriter, PendingEvent
from catalog_relay.adapters.kafka_producer import KafkaPublisher
from catalog_relay.adapters.outbox_table import LEADER_LOCK, OutboxRow, OutboxTable
from catalog_relay.domain.leadership import Fenced
from catalog_relay.entrypoints.bootstrap import build
from catalog_relay.service_layer.outbox_relay import OutboxRelay
from catalog_relay.settings import RelaySettings
from catalog_schemas import Lane
from catalog_schemas.topics import PRODUCT, PRODUCT_BULK
from catalog_stack.infra import Endpoints
from catalog_stack.processes import ManagedProcess
from catalog_stack.services import bin_path
from tests.support import Consumed, consume, first_seen, versions_by_key, wait_until


def snapshot(product_id: str, version: int) -> dict[str, object]:
    return {
        "id": product_id,
        "sku": f"SKU-{product_id[:8]}",
        "name": "Tee",
        "brand": None,
        "description": None,
        "price": "1.00",
        "currency": "EUR",
        "stock": 0,
        "attributes": {},
        "images": [],
        "status": "active",
        "variants": [],
        "version": version,
        "created_at": "2026-01-01T00:00:00+00:00",
        "updated_at": "2026-01-01T00:00:00+00:00",
    }


def write_events(database_url: str, product_ids: list[str], versions: range) -> None:
    """Each version of each product in its own transaction, interleaved across products."""
    engine = create_engine(database_url)
    writer = OutboxWriter("/test/relay")
    with Session(engine) as session:
        for version in versions:
            for pid in product_ids:
                with session.begin():
                    event_type = "product.created" if version == 1 else "product.updated"
                    writer.add(
                        session,
                        event_type=event_type,
                        aggregate_type="product",
                        aggregate_id=pid,
                        data=snapshot(pid, version),
                    )
    engine.dispose()


def unpublished(database_url: str) -> int:
    with psycopg.connect(libpq_conninfo(database_url)) as conn:
        row = conn.execute("SELECT count(*) FROM outbox WHERE published_at IS NULL").fetchone()
    return int(row[0]) if row else -1


@contextmanager
def relay_thread(database_url: str, bootstrap: str, **overrides: object) -> Iterator[OutboxRelay]:
    settings = RelaySettings.model_validate(
        {
            "database_url": database_url,
            "kafka_bootstrap_servers": bootstrap,
            "relay_poll_interval_s": 0.2,
            **overrides,
        }
    )
    relay = build(settings)
    stop = threading.Event()
    thread = threading.Thread(target=relay.run, args=(stop,), daemon=True)
    thread.start()
    try:
        yield relay
    finally:
        stop.set()
        thread.join(timeout=30)
        assert not thread.is_alive(), "relay did not stop within 30 s"


def test_events_arrive_in_order_per_product(fresh_database: str, endpoints: Endpoints) -> None:
    products = [str(uuid.uuid4()) for _ in range(20)]
    write_events(fresh_database, products, range(1, 26))
    with relay_thread(fresh_database, endpoints.kafka_bootstrap_servers, relay_batch_size=97):
        wait_until(lambda: unpublished(fresh_database) == 0, timeout=60)
    records = consume(endpoints.kafka_bootstrap_servers, PRODUCT.name, products, expected=500)
    assert len(records) == 500
    for versions in versions_by_key(records).values():
        assert versions == list(range(1, 26))
    for record in records:
        assert record.event.subject == record.key
        assert record.headers["ce_type"] in ("product.created", "product.updated")


def test_a_row_committed_late_with_a_lower_id_is_still_published(fresh_database: str, endpoints: Endpoints) -> None:
    early, late = str(uuid.uuid4()), str(uuid.uuid4())
    engine = create_engine(fresh_database)
    writer = OutboxWriter("/test/relay")
    with (
        relay_thread(fresh_database, endpoints.kafka_bootstrap_servers),
        Session(engine) as slow,
        Session(engine) as fast,
    ):
        slow.begin()
        writer.add(
            slow, event_type="product.created", aggregate_type="product", aggregate_id=early, data=snapshot(early, 1)
        )
        slow.flush()
        with fast.begin():  # takes a higher id and commits first
            writer.add(
                fast, event_type="product.created", aggregate_type="product", aggregate_id=late, data=snapshot(late, 1)
            )
        assert consume(endpoints.kafka_bootstrap_servers, PRODUCT.name, [late], expected=1)
        visible = {row.aggregate_id for row in fast.execute(text("SELECT aggregate_id FROM outbox"))}
        assert late in visible
        assert early not in visible
        slow.commit()
        wait_until(lambda: unpublished(fresh_database) == 0)
    with psycopg.connect(libpq_conninfo(fresh_database)) as conn:
        rows: dict[str, int] = dict(conn.execute("SELECT aggregate_id, id FROM outbox").fetchall())
    assert rows[early] < rows[late]
    assert len(consume(endpoints.kafka_bootstrap_servers, PRODUCT.name, [early], expected=1)) == 1
    engine.dispose()


def test_the_interactive_lane_is_published_before_a_bulk_backlog(fresh_database: str) -> None:
    bulk, interactive = [str(uuid.uuid4()) for _ in range(300)], str(uuid.uuid4())
    engine = create_engine(fresh_database)
    with Session(engine) as session, session.begin():
        OutboxWriter("/test/relay", lane=Lane.BULK).add_many(
            session, [PendingEvent("product.created", "product", pid, snapshot(pid, 1)) for pid in bulk]
        )
    with Session(engine) as session, session.begin():  # written after the whole backlog
        OutboxWriter("/test/relay").add(
            session,
            event_type="product.created",
            aggregate_type="product",
            aggregate_id=interactive,
            data=snapshot(interactive, 1),
        )
    engine.dispose()

    with OutboxTable(libpq_conninfo(fresh_database)).session() as outbox:
        first = outbox.unpublished(100)
    assert first[0].aggregate_id == interactive
    assert first[0].topic == PRODUCT.name
    assert {row.topic for row in first[1:]} == {PRODUCT_BULK.name}
    assert [row.aggregate_id for row in first[1:]] == bulk[:99]  # id order within the bulk lane
    assert first[1].headers["ce_lane"] == "bulk"


def test_published_rows_are_cleaned_up_after_retention(fresh_database: str, endpoints: Endpoints) -> None:
    products = [str(uuid.uuid4()) for _ in range(3)]
    write_events(fresh_database, products, range(1, 3))
    with relay_thread(
        fresh_database, endpoints.kafka_bootstrap_servers, relay_retention_hours=0.0, relay_cleanup_interval_s=0.1
    ):

        def remaining() -> bool:
            with psycopg.connect(libpq_conninfo(fresh_database)) as conn:
                row = conn.execute("SELECT count(*) FROM outbox").fetchone()
            return row is not None and row[0] == 0

        wait_until(remaining, timeout=30)


def consume_every_event(bootstrap: str, keys: list[str], events: int) -> list[Consumed]:
    """The product topic's records of `keys`, read until `events` distinct events were seen (or the deadline passed).

    A failover sends some events twice; counting records alone would stop that many distinct events short.
    """
    expected = events
    while True:
        records = consume(bootstrap, PRODUCT.name, keys, expected=expected)
        missing = events - len({record.event.id for record in records})
        if missing <= 0 or len(records) < expected:
            return records
        expected += missing


def _leader_pid(database_url: str) -> int | None:
    """The OS pid of the relay holding the leader lock (relays name themselves `catalog-relay-<pid>`)."""
    with psycopg.connect(libpq_conninfo(database_url)) as conn:
        row = conn.execute(
            """SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
               WHERE l.locktype = 'advisory' AND l.objid = %s AND l.granted
                 AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())""",
            (LEADER_LOCK,),
        ).fetchone()
    return int(row[0].rsplit("-", 1)[1]) if row else None


def test_standby_takes_over_when_the_leader_is_killed(
    fresh_database: str, endpoints: Endpoints, tmp_path: Path
) -> None:
    products = [str(uuid.uuid4()) for _ in range(40)]
    versions = 100  # 4,000 events
    env = {
        **os.environ,
        "DATABASE_URL": fresh_database,
        "KAFKA_BOOTSTRAP_SERVERS": endpoints.kafka_bootstrap_servers,
        "RELAY_BATCH_SIZE": "200",
        "RELAY_POLL_INTERVAL_S": "0.2",
        "RELAY_STANDBY_RETRY_S": "0.2",
    }
    relays = [ManagedProcess(f"relay-{i}", tmp_path, tmp_path) for i in range(2)]
    # Half the events wait in the outbox before any relay starts; the other half are written while it publishes.
    write_events(fresh_database, products, range(1, versions // 2 + 1))
    writer = threading.Thread(
        target=write_events, args=(fresh_database, products, range(versions // 2 + 1, versions + 1))
    )
    try:
        relays[0].start([bin_path("catalog-relay")], env=env)
        leader = wait_until(lambda: _leader_pid(fresh_database))
        relays[1].start([bin_path("catalog-relay")], env=env)
        writer.start()
        # Kill the leader mid-stream, once a good share (but not all) of the events went out.
        wait_until(lambda: _published(fresh_database) >= 1000, timeout=60, interval=0.01)
        os.kill(leader, signal.SIGKILL)
        killed_at = time.monotonic()
        assert unpublished(fresh_database) > 0  # the leader really died with work left
        standby = wait_until(lambda: (pid := _leader_pid(fresh_database)) != leader and pid, timeout=60)
        takeover_s = time.monotonic() - killed_at
        assert standby == relays[1].pid()
        writer.join()
        wait_until(lambda: unpublished(fresh_database) == 0, timeout=120)
    finally:
        for relay in relays:
            relay.stop()
    records = consume_every_event(endpoints.kafka_bootstrap_servers, products, len(products) * versions)
    duplicates = len(records) - len(products) * versions
    print(f"failover: takeover {takeover_s:.2f} s, {duplicates} duplicate(s) of {len(products) * versions} events")
    for versions_seen in versions_by_key(records).values():
        assert first_seen(versions_seen) == list(range(1, versions + 1))  # every event, in order
    # Duplicates only for rows in flight when the leader died: at most one batch.
    assert 0 <= duplicates <= 200


def _published(database_url: str) -> int:
    with psycopg.connect(libpq_conninfo(database_url)) as conn:
        row = conn.execute("SELECT count(*) FROM outbox WHERE published_at IS NOT NULL").fetchone()
    return int(row[0]) if row else 0


def test_sigterm_stops_the_relay_promptly(fresh_database: str, endpoints: Endpoints, tmp_path: Path) -> None:
    env = {**os.environ, "DATABASE_URL": fresh_database, "KAFKA_BOOTSTRAP_SERVERS": endpoints.kafka_bootstrap_servers}
    proc = subprocess.Popen([bin_path("catalog-relay")], env=env, stderr=subprocess.PIPE)
    try:
        wait_until(lambda: _leader_pid(fresh_database) == proc.pid)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        proc.kill()
        proc.wait()


def _row(row_id: int, product_id: str, version: int) -> OutboxRow:
    envelope = EventEnvelope(type="product.updated", source="/test", subject=product_id, data={})
    return OutboxRow(row_id, PRODUCT.name, product_id, json.dumps(snapshot(product_id, version)), envelope.headers())


def test_a_new_leader_fences_the_old_one_at_the_broker(endpoints: Endpoints) -> None:
    """A relay that lost its turn can get nothing more into the topic, so a failover never reorders a product."""
    settings = RelaySettings(kafka_bootstrap_servers=endpoints.kafka_bootstrap_servers)
    config = producer_config(settings, **{"transactional.id": f"test-relay-{uuid.uuid4()}"})
    product = str(uuid.uuid4())
    old = KafkaPublisher(config)
    assert old.publish([_row(1, product, 1)], 30).delivered == {1}
    new = KafkaPublisher(config)  # the next leader registers the same transactional id
    try:
        with pytest.raises(Fenced):
            old.publish([_row(2, product, 2)], 30)
        assert new.publish([_row(3, product, 3)], 30).delivered == {3}
    finally:
        old.close()
        new.close()
    records = consume(endpoints.kafka_bootstrap_servers, PRODUCT.name, [product], expected=3, timeout=10)
    assert [r.event.data["version"] for r in records] == [1, 3]
