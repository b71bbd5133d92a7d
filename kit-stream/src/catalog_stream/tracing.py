"""Spans of a processor's handling, continuing the trace each record's `traceparent` carries.

Interactive lane: one span per record, a child of the record's context, and the record's envelope is handed to the
handler with the span's own `traceparent`, so what the handler emits (an enrichment, a media result) continues the
trace below it: one trace runs API → relay → indexer / enricher → relay → indexer. These records are few (user-facing
writes), so a span each costs little.

Bulk lane: one span per batch, linked to the records' contexts (up to `MAX_LINKS`), and the envelopes keep the
`traceparent` they came with: an import of a million rows would otherwise put a million spans per processor into the
import's one trace. Its events still carry the import request's trace id to the end.

Only used when `catalog_kit.tracing.enabled()`; otherwise the processor does none of this.
"""

import dataclasses
from collections.abc import Sequence
from typing import Any

from aiokafka import ConsumerRecord
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

from catalog_kit import tracing
from catalog_kit.envelope import EventEnvelope, valid_traceparent
from catalog_schemas.topics import Lane, lane_of


class HandlingSpans:
    """The spans of one partition's records while they are handled; `end()` closes them."""

    def __init__(
        self, processor: str, group: str, topic: str, partition: int, records: Sequence[ConsumerRecord[Any, Any]]
    ):
        self._per_record: dict[int, Span] = {}
        self._batch: Span | None = None
        tracer = tracing.tracer()
        base = {
            "messaging.system": "kafka",
            "messaging.operation.type": "process",
            "messaging.destination.name": topic,
            "messaging.destination.partition.id": str(partition),
            "messaging.consumer.group.name": group,
        }
        if lane_of(topic) is Lane.INTERACTIVE:
            for record in records:
                headers = _text_headers(record)
                span = tracer.start_span(
                    f"{processor} process {topic}",
                    context=tracing.context_of(valid_traceparent(headers.get("traceparent"))),
                    kind=SpanKind.CONSUMER,
                    attributes={
                        **base,
                        "messaging.kafka.offset": record.offset,
                        "messaging.message.id": headers.get("ce_id", ""),
                        "catalog.event_type": headers.get("ce_type", ""),
                        "catalog.product_id": headers.get("ce_subject", ""),
                    },
                )
                self._per_record[record.offset] = span
        else:
            self._batch = tracer.start_span(
                f"{processor} process {topic} batch",
                kind=SpanKind.CONSUMER,
                links=tracing.links_to(valid_traceparent(_text_headers(r).get("traceparent")) for r in records),
                attributes={
                    **base,
                    "messaging.batch.message_count": len(records),
                    "messaging.kafka.offset": records[0].offset,
                },
            )

    def continued(self, record: ConsumerRecord[Any, Any], event: EventEnvelope) -> EventEnvelope:
        """`event` as its handler sees it: carrying its record span's context, where it has one."""
        span = self._per_record.get(record.offset)
        if span is None:
            return event
        return dataclasses.replace(event, traceparent=tracing.traceparent_of(span))

    def failed(self, record: ConsumerRecord[Any, Any], error: BaseException) -> None:
        """The record was dead-lettered."""
        span = self._per_record.get(record.offset) or self._batch
        if span is not None:
            span.record_exception(error)
            span.set_status(Status(StatusCode.ERROR, "dead-lettered"))

    def end(self) -> None:
        for span in self._per_record.values():
            span.end()
        if self._batch is not None:
            self._batch.end()


def _text_headers(record: ConsumerRecord[Any, Any]) -> dict[str, str]:
    return {k: bytes(v).decode(errors="replace") for k, v in (record.headers or ()) if v is not None}
