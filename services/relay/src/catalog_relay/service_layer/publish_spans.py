"""Spans of the relay's publishing, continuing the trace each outbox row carries (only with traces on).

Interactive rows: a PRODUCER span per row, a child of the row's `traceparent` (the span that wrote it), and the row
is sent with the span's own `traceparent`, so the consumers' spans sit below it: API → relay → indexer in one trace,
in parent order. They are few (user-facing writes) and a span costs a few microseconds.

Bulk rows: one span per batch, linked to the rows' contexts (up to `MAX_LINKS`); the rows keep the `traceparent`
they were written with. An import's million rows would otherwise put a million relay spans into its one trace.
"""

from collections.abc import Sequence

from opentelemetry.trace import Span, SpanKind, Status, StatusCode

from catalog_kit import tracing
from catalog_kit.envelope import valid_traceparent
from catalog_relay.adapters.kafka_producer import Delivery
from catalog_relay.adapters.outbox_table import OutboxRow
from catalog_schemas import Lane

SPAN_NAME = "outbox-relay publish"


class PublishSpans:
    """The spans of one batch while it is sent; `rows` are the rows to send (with their spans' contexts)."""

    def __init__(self, rows: Sequence[OutboxRow]) -> None:
        tracer = tracing.tracer()
        self._per_row: dict[int, Span] = {}
        self._batch: Span | None = None
        self.rows: list[OutboxRow] = []
        bulk: list[OutboxRow] = []
        for row in rows:
            if row.headers.get("ce_lane") == Lane.BULK:
                bulk.append(row)
                self.rows.append(row)
                continue
            span = tracer.start_span(
                f"{SPAN_NAME} {row.topic}",
                context=tracing.context_of(valid_traceparent(row.headers.get("traceparent"))),
                kind=SpanKind.PRODUCER,
                attributes={
                    "messaging.system": "kafka",
                    "messaging.operation.type": "send",
                    "messaging.destination.name": row.topic,
                    "messaging.message.id": row.headers.get("ce_id", ""),
                    "catalog.event_type": row.headers.get("ce_type", ""),
                    "catalog.outbox_id": row.id,
                    "catalog.product_id": row.aggregate_id,
                },
            )
            self._per_row[row.id] = span
            self.rows.append(row._replace(headers={**row.headers, "traceparent": tracing.traceparent_of(span) or ""}))
        if bulk:
            self._batch = tracer.start_span(
                f"{SPAN_NAME} batch",
                kind=SpanKind.PRODUCER,
                links=tracing.links_to(valid_traceparent(row.headers.get("traceparent")) for row in bulk),
                attributes={"messaging.system": "kafka", "messaging.batch.message_count": len(bulk)},
            )

    def end(self, delivery: Delivery | None) -> None:
        """Close the spans; rows the broker did not acknowledge (or all, without a delivery) are marked failed."""
        for row_id, span in self._per_row.items():
            if delivery is None or row_id not in delivery.delivered:
                error = delivery.failed.get(row_id, "not acknowledged") if delivery else "not sent"
                span.set_status(Status(StatusCode.ERROR, error))
            span.end()
        if self._batch is not None:
            if delivery is None or delivery.failed or delivery.pending:
                self._batch.set_status(Status(StatusCode.ERROR, "not every row was acknowledged"))
            self._batch.end()
