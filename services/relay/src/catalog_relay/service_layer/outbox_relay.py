"""OutboxRelay: one leader (a PostgreSQL advisory lock) publishes unpublished rows with an idempotent producer."""

import logging
import os
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import psycopg
from confluent_kafka import KafkaError, Message, Producer

from catalog_kit.db import libpq_conninfo
from catalog_kit.kafka import producer_config
from catalog_kit.outbox import NOTIFY_CHANNEL
from catalog_relay.domain.ordering import PendingRow, rows_to_mark
from catalog_relay.settings import RelaySettings

log = logging.getLogger("catalog_relay")

LEADER_LOCK = 0x72656C61  # "rela": one relay publishes at a time, the others stand by

# Selects by "not yet published", never "id above the last one seen": ids commit out of order, and a row
# whose transaction commits late must still be found.
_FETCH = """
SELECT id, topic, aggregate_id, payload::text, headers
FROM outbox WHERE published_at IS NULL ORDER BY id LIMIT %s
"""


class LostLeadership(Exception):
    """The leader's database session ended; another relay may be publishing now."""


@dataclass
class _Batch:
    """Delivery results of one batch; reports arriving after the batch was given up on are ignored."""

    delivered: set[int] = field(default_factory=set)
    failed: dict[int, KafkaError] = field(default_factory=dict)
    fatal: KafkaError | None = None

    def on_delivery(self, row_id: int) -> Any:
        def report(err: KafkaError | None, _: Message) -> None:
            if err is None:
                self.delivered.add(row_id)
            else:
                self.failed[row_id] = err
                if err.fatal():
                    self.fatal = err

        return report


class OutboxRelay:
    """Publishes outbox rows in id order, marking each only after the broker acknowledged it."""

    def __init__(self, settings: RelaySettings) -> None:
        self.settings = settings
        self.conninfo = libpq_conninfo(settings.database_url)
        self.published_total = 0

    def run(self, stop: threading.Event) -> None:
        """Contend for leadership, publish while leading, and stand by again if leadership is lost."""
        while not stop.is_set():
            try:
                with psycopg.connect(
                    self.conninfo, autocommit=True, application_name=f"catalog-relay-{os.getpid()}"
                ) as conn:
                    if self._acquire(conn, stop):
                        self._lead(conn, stop)
            except (psycopg.OperationalError, LostLeadership) as exc:
                log.warning("relay lost its database session; standing by", extra={"error": str(exc)})
                stop.wait(self.settings.relay_standby_retry_s)

    def _acquire(self, conn: psycopg.Connection[Any], stop: threading.Event) -> bool:
        waiting_logged = False
        while not stop.is_set():
            row = conn.execute("SELECT pg_try_advisory_lock(%s)", (LEADER_LOCK,)).fetchone()
            if row and row[0]:
                log.info("relay is the active publisher")
                return True
            if not waiting_logged:
                log.info("relay standing by: another instance is publishing")
                waiting_logged = True
            stop.wait(self.settings.relay_standby_retry_s)
        return False

    def _lead(self, conn: psycopg.Connection[Any], stop: threading.Event) -> None:
        producer = Producer(producer_config(self.settings, **{"client.id": "catalog-relay"}))
        conn.execute(f"LISTEN {NOTIFY_CHANNEL}")
        next_cleanup = next_report = time.monotonic()
        try:
            while not stop.is_set():
                published = self.publish_batch(conn, producer)
                if time.monotonic() >= next_cleanup:
                    self._clean_up(conn)
                    next_cleanup = time.monotonic() + self.settings.relay_cleanup_interval_s
                if time.monotonic() >= next_report:
                    self._report(conn)
                    next_report = time.monotonic() + self.settings.relay_report_interval_s
                if published < self.settings.relay_batch_size:
                    # Idle: sleep until a writer's NOTIFY (one that arrived while publishing is kept in
                    # psycopg's backlog and ends the wait at once), or the poll interval as a fallback.
                    for _ in conn.notifies(timeout=self.settings.relay_poll_interval_s, stop_after=1):
                        pass
        finally:
            producer.flush(10)

    def publish_batch(self, conn: psycopg.Connection[Any], producer: Producer) -> int:
        """Publish one batch of unpublished rows; returns how many rows were fetched."""
        rows = conn.execute(_FETCH, (self.settings.relay_batch_size,)).fetchall()
        if not rows:
            return 0
        batch = _Batch()
        for row_id, topic, key, payload, headers in rows:
            self._produce(producer, topic, key, payload, headers, batch.on_delivery(row_id))
        remaining = producer.flush(self.settings.relay_delivery_timeout_s)
        if batch.fatal is not None:
            raise RuntimeError(f"producer failed fatally: {batch.fatal}")
        done = rows_to_mark([PendingRow(r[0], r[2]) for r in rows], batch.delivered)
        if done:
            marked = conn.execute(
                "UPDATE outbox SET published_at = now() WHERE id = ANY(%s) AND published_at IS NULL", (done,)
            ).rowcount
            if marked != len(done):
                raise LostLeadership("rows were marked by another relay")
        self.published_total += len(done)
        if batch.failed or remaining:
            first = next(iter(batch.failed.values()), None)
            log.warning(
                "some events were not acknowledged; they will be retried in order",
                extra={"failed": len(batch.failed), "pending": remaining, "error": str(first)},
            )
        return len(rows)

    def _produce(
        self,
        producer: Producer,
        topic: str,
        key: str,
        payload: str,
        headers: dict[str, str],
        on_delivery: Any,
    ) -> None:
        while True:
            try:
                producer.produce(
                    topic,
                    value=payload.encode(),
                    key=key.encode(),
                    headers=list(headers.items()),
                    on_delivery=on_delivery,
                )
                producer.poll(0)
                return
            except BufferError:  # local queue full: let deliveries drain, then go on
                producer.poll(0.05)

    def _clean_up(self, conn: psycopg.Connection[Any]) -> None:
        """Delete published rows past their retention, a chunk at a time to keep locks short."""
        deleted = 0
        while True:
            count = conn.execute(
                """DELETE FROM outbox WHERE id IN (
                       SELECT id FROM outbox WHERE published_at < now() - make_interval(secs => %s) LIMIT 5000)""",
                (self.settings.relay_retention_hours * 3600,),
            ).rowcount
            deleted += count
            if count < 5000:
                break
        if deleted:
            log.info("published outbox rows cleaned up", extra={"deleted": deleted})

    def _report(self, conn: psycopg.Connection[Any]) -> None:
        row = conn.execute(
            "SELECT count(*), extract(epoch FROM now() - min(created_at)) FROM outbox WHERE published_at IS NULL"
        ).fetchone()
        backlog, lag = row if row else (0, None)
        log.info(
            "relay status",
            extra={
                "backlog": backlog,
                "publish_lag_s": float(lag or 0.0),
                "published_total": self.published_total,
            },
        )
