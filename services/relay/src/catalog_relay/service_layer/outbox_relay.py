"""OutboxRelay: one leader (a lock in the database) publishes unpublished rows through an idempotent producer."""

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Protocol

from catalog_kit import tracing
from catalog_relay.adapters.kafka_producer import Delivery
from catalog_relay.adapters.outbox_table import OutboxRow
from catalog_relay.domain.health import RelayHealth
from catalog_relay.domain.leadership import Fenced, LostLeadership, ProducerBroken, SessionLost
from catalog_relay.domain.ordering import PendingRow, rows_to_mark
from catalog_relay.service_layer.publish_spans import PublishSpans
from catalog_relay.settings import RelaySettings
from catalog_schemas import Lane

log = logging.getLogger("catalog_relay")

CLEAN_UP_CHUNK = 5000  # rows deleted per statement, to keep locks short


class OutboxSession(Protocol):
    """One database session of the relay."""

    def try_lead(self) -> bool: ...

    def listen(self) -> None: ...

    def wait_for_writes(self, timeout_s: float) -> None: ...

    def unpublished(self, limit: int) -> list[OutboxRow]: ...

    def mark_published(self, ids: list[int]) -> int: ...

    def delete_published(self, older_than_s: float, limit: int) -> int: ...

    def backlog(self) -> dict[Lane, tuple[int, float]]: ...


class Outbox(Protocol):
    """Opens database sessions; SessionLost when one cannot be opened or breaks."""

    def session(self) -> AbstractContextManager[OutboxSession]: ...


class EventPublisher(Protocol):
    """Sends outbox rows to the broker."""

    def publish(self, rows: Sequence[OutboxRow], timeout_s: float) -> Delivery: ...

    def close(self) -> None: ...


class OutboxObserver(Protocol):
    """Told what the relay publishes and the backlog it sees (the metrics)."""

    def published(self, rows: Sequence[OutboxRow], since_fetch_s: float) -> None: ...

    def backlog(self, by_lane: Mapping[Lane, tuple[int, float]]) -> None: ...


class _Unobserved:
    def published(self, rows: Sequence[OutboxRow], since_fetch_s: float) -> None:
        pass

    def backlog(self, by_lane: Mapping[Lane, tuple[int, float]]) -> None:
        pass


class OutboxRelay:
    """Publishes outbox rows in id order, marking each only after the broker acknowledged it."""

    def __init__(
        self,
        outbox: Outbox,
        publisher: Callable[[], EventPublisher],
        settings: RelaySettings,
        observer: OutboxObserver | None = None,
    ) -> None:
        self.outbox = outbox
        self.publisher = publisher  # a new producer for each term as leader
        self.settings = settings
        self.health = RelayHealth(settings.relay_stall_after_s)
        self.observer: OutboxObserver = observer or _Unobserved()

    def run(self, stop: threading.Event) -> None:
        """Contend for leadership, publish while leading, and stand by again if leadership is lost."""
        while not stop.is_set():
            try:
                with self.outbox.session() as session:
                    if self._acquire(session, stop):
                        self._lead(session, stop)
            except (SessionLost, LostLeadership) as exc:
                log.warning("relay lost its database session; standing by", extra={"error": str(exc)})
                self.health.problem = f"database session lost: {str(exc)[:200]}"
                stop.wait(self.settings.relay_standby_retry_s)

    def _acquire(self, session: OutboxSession, stop: threading.Event) -> bool:
        waiting_logged = False
        while not stop.is_set():
            if session.try_lead():
                log.info("relay is the active publisher")
                self.health.leading()
                return True
            self.health.standing_by()
            if not waiting_logged:
                log.info("relay standing by: another instance is publishing")
                waiting_logged = True
            stop.wait(self.settings.relay_standby_retry_s)
        return False

    def _lead(self, session: OutboxSession, stop: threading.Event) -> None:
        session.listen()
        next_cleanup = next_report = time.monotonic()
        publisher: EventPublisher | None = None
        unacknowledged_batches = 0
        try:
            while not stop.is_set():
                if publisher is None:
                    publisher = self._new_publisher(stop)
                    if publisher is None:
                        return
                try:
                    published, acknowledged = self.publish_batch(session, publisher)
                except ProducerBroken as exc:
                    # Rows are marked only after acknowledgement, so a new producer resends what this one lost.
                    log.error("producer replaced after a fatal error", extra={"error": str(exc)})
                    self.health.problem = f"producer failed: {str(exc)[:200]}"
                    publisher.close()
                    publisher, unacknowledged_batches = None, 0
                    continue
                unacknowledged_batches = 0 if acknowledged or not published else unacknowledged_batches + 1
                if acknowledged:
                    self.health.problem = None
                if unacknowledged_batches >= self.settings.relay_producer_reset_after:
                    # E.g. a broker that came back without this producer's state: every send fails the same way.
                    log.error("nothing acknowledged for several batches; replacing the producer")
                    publisher.close()
                    publisher, unacknowledged_batches = None, 0
                if time.monotonic() >= next_cleanup:
                    self._clean_up(session)
                    next_cleanup = time.monotonic() + self.settings.relay_cleanup_interval_s
                if time.monotonic() >= next_report:
                    self._report(session)
                    next_report = time.monotonic() + self.settings.relay_report_interval_s
                if published < self.settings.relay_batch_size or not acknowledged:
                    # Idle, or the broker refuses: sleep until a writer's NOTIFY, or the poll interval.
                    session.wait_for_writes(self.settings.relay_poll_interval_s)
        except Fenced as exc:
            raise LostLeadership(f"another relay took over at the broker: {exc}") from exc
        finally:
            if publisher is not None:
                publisher.close()  # drops anything queued: a relay that stops leading sends nothing late

    def _new_publisher(self, stop: threading.Event) -> EventPublisher | None:
        """A producer for this term; while the broker is unreachable, wait and try again."""
        while not stop.is_set():
            try:
                return self.publisher()
            except ProducerBroken as exc:
                log.warning("producer not ready; retrying", extra={"error": str(exc)})
                stop.wait(self.settings.relay_standby_retry_s * 4)
        return None

    def publish_batch(self, session: OutboxSession, publisher: EventPublisher) -> tuple[int, int]:
        """Publish one batch of unpublished rows; returns how many rows were fetched and how many acknowledged."""
        rows = session.unpublished(self.settings.relay_batch_size)
        if not rows:
            return 0, 0
        fetched = time.monotonic()
        if tracing.enabled():
            spans = PublishSpans(rows)
            delivery = None
            try:
                delivery = publisher.publish(spans.rows, self.settings.relay_delivery_timeout_s)
            finally:
                spans.end(delivery)
        else:
            delivery = publisher.publish(rows, self.settings.relay_delivery_timeout_s)
        acknowledged_s = time.monotonic() - fetched
        if delivery.fatal is not None:
            raise ProducerBroken(delivery.fatal)
        done = rows_to_mark([PendingRow(row.id, row.aggregate_id) for row in rows], delivery.delivered)
        if done and session.mark_published(done) != len(done):
            raise LostLeadership("rows were marked by another relay")
        self.health.published(len(done))
        if done:
            marked = set(done)
            self.observer.published([row for row in rows if row.id in marked], acknowledged_s)
        if delivery.failed or delivery.pending:
            first = next(iter(delivery.failed.values()), None)
            log.warning(
                "some events were not acknowledged; they will be retried in order",
                extra={"failed": len(delivery.failed), "pending": delivery.pending, "error": str(first)},
            )
        return len(rows), len(delivery.delivered)

    def _clean_up(self, session: OutboxSession) -> None:
        """Delete published rows past their retention, a chunk at a time to keep locks short."""
        deleted = 0
        while True:
            count = session.delete_published(self.settings.relay_retention_hours * 3600, CLEAN_UP_CHUNK)
            deleted += count
            if count < CLEAN_UP_CHUNK:
                break
        if deleted:
            log.info("published outbox rows cleaned up", extra={"deleted": deleted})

    def _report(self, session: OutboxSession) -> None:
        by_lane = session.backlog()
        self.observer.backlog(by_lane)
        self.health.backlog_sampled(by_lane)
        log.info(
            "relay status",
            extra={
                "backlog": self.health.backlog,
                "publish_lag_s": self.health.oldest_unpublished_s,
                "backlog_by_lane": {lane.value: rows for lane, (rows, _) in by_lane.items()},
                "published_total": self.health.published_total,
            },
        )
