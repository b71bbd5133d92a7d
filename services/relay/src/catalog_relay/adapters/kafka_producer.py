"""The relay's Kafka producer: sends a batch of outbox rows and reports what the broker acknowledged.

With a transactional id each batch is one Kafka transaction. Taking over as leader registers the id with the
broker (`init_transactions`), which fences every older producer of that id: a relay that lost its leadership but
still has messages queued can no longer get any of them into the topic, so a failover cannot put an older version
of a product after a newer one. Consumers read with `isolation.level=read_committed`.
"""

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Message, Producer

from catalog_relay.adapters.outbox_table import OutboxRow
from catalog_relay.domain.leadership import Fenced, ProducerBroken

log = logging.getLogger("catalog_relay")


@dataclass(frozen=True)
class Delivery:
    """The outcome of one batch: rows acknowledged, rows refused (with the error), a fatal producer error,
    and how many messages were still unanswered when the wait ended."""

    delivered: frozenset[int]
    failed: dict[int, str]
    fatal: str | None
    pending: int


_FENCED = frozenset(
    code
    for code in (
        getattr(KafkaError, "_FENCED", None),
        getattr(KafkaError, "PRODUCER_FENCED", None),
        getattr(KafkaError, "INVALID_PRODUCER_EPOCH", None),
        getattr(KafkaError, "TRANSACTIONAL_ID_AUTHORIZATION_FAILED", None),
    )
    if code is not None
)


@dataclass
class _Reports:
    """Delivery reports of one batch; reports arriving after the batch was given up on are ignored."""

    delivered: set[int] = field(default_factory=set)
    failed: dict[int, KafkaError] = field(default_factory=dict)
    fatal: KafkaError | None = None

    def on_delivery(self, row_id: int) -> Callable[[KafkaError | None, Message], None]:
        def report(err: KafkaError | None, _: Message) -> None:
            if err is None:
                self.delivered.add(row_id)
            else:
                self.failed[row_id] = err
                if err.fatal():
                    self.fatal = err

        return report


class KafkaPublisher:
    """An idempotent producer (the settings' producer config), keyed by aggregate so each one keeps its order;
    transactional (and so fencing) when the config has a `transactional.id`."""

    def __init__(self, config: dict[str, Any], init_timeout_s: float = 30.0) -> None:
        self._producer = Producer(config)
        self._transactional = bool(config.get("transactional.id"))
        if self._transactional:
            try:
                self._producer.init_transactions(init_timeout_s)  # fences older producers of this id
            except KafkaException as exc:
                raise ProducerBroken(f"could not register the transactional id: {exc}") from exc

    def publish(self, rows: Sequence[OutboxRow], timeout_s: float) -> Delivery:
        """Send every row and wait up to `timeout_s` for the broker's answers."""
        if self._transactional:
            return self._publish_in_transaction(rows, timeout_s)
        reports = _Reports()
        for row in rows:
            self._produce(row, reports.on_delivery(row.id))
        pending = self._producer.flush(timeout_s)
        return Delivery(
            delivered=frozenset(reports.delivered),
            failed={row_id: str(error) for row_id, error in reports.failed.items()},
            fatal=None if reports.fatal is None else str(reports.fatal),
            pending=pending,
        )

    def _publish_in_transaction(self, rows: Sequence[OutboxRow], timeout_s: float) -> Delivery:
        """All rows or none: a commit makes the whole batch visible to read-committed consumers at once."""
        reports = _Reports()
        try:
            self._producer.begin_transaction()
            for row in rows:
                self._produce(row, reports.on_delivery(row.id))
            self._producer.commit_transaction(timeout_s)
        except KafkaException as exc:
            error: KafkaError = exc.args[0]
            if error.code() in _FENCED:
                raise Fenced(str(error)) from exc
            if error.fatal():
                raise ProducerBroken(str(error)) from exc
            if error.txn_requires_abort():
                self._abort(timeout_s)
            log.warning("batch not committed; it is sent again", extra={"error": str(error), "rows": len(rows)})
            return Delivery(frozenset(), {row.id: str(error) for row in rows}, None, 0)
        return Delivery(frozenset(row.id for row in rows), {}, None, 0)

    def _abort(self, timeout_s: float) -> None:
        try:
            self._producer.abort_transaction(timeout_s)
        except KafkaException as exc:
            raise ProducerBroken(f"could not abort a failed batch: {exc.args[0]}") from exc

    def close(self) -> None:
        """Leadership ended or the producer is replaced: drop whatever is still queued, never send it late."""
        self._producer.purge(in_queue=True, in_flight=True, blocking=False)
        self._producer.flush(0)

    def _produce(self, row: OutboxRow, on_delivery: Callable[[KafkaError | None, Message], None]) -> None:
        while True:
            try:
                self._producer.produce(
                    row.topic,
                    value=row.payload.encode(),
                    key=row.aggregate_id.encode(),
                    headers=list(row.headers.items()),
                    on_delivery=on_delivery,
                )
                self._producer.poll(0)
                return
            except BufferError:  # local queue full: let deliveries drain, then go on
                self._producer.poll(0.05)
