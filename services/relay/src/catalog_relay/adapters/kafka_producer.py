"""The relay's Kafka producer: sends a batch of outbox rows and reports what the broker acknowledged."""

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import KafkaError, Message, Producer

from catalog_relay.adapters.outbox_table import OutboxRow


@dataclass(frozen=True)
class Delivery:
    """The outcome of one batch: rows acknowledged, rows refused (with the error), a fatal producer error,
    and how many messages were still unanswered when the wait ended."""

    delivered: frozenset[int]
    failed: dict[int, str]
    fatal: str | None
    pending: int


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
    """An idempotent producer (the settings' producer config), keyed by aggregate so each one keeps its order."""

    def __init__(self, config: dict[str, Any]) -> None:
        self._producer = Producer(config)

    def publish(self, rows: Sequence[OutboxRow], timeout_s: float) -> Delivery:
        """Send every row and wait up to `timeout_s` for the broker's answers."""
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

    def close(self) -> None:
        """Give messages still queued a last chance to go out."""
        self._producer.flush(10)

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
