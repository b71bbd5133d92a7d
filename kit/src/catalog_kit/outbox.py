"""The transactional outbox: an event is stored in the same transaction as the change it announces.

Every service that changes catalog data writes its events through `OutboxWriter`; the relay publishes them.
"""

import json
import os
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Index,
    MetaData,
    SmallInteger,
    Table,
    Text,
    func,
    insert,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Session

from catalog_kit.bulk import copy_rows, recordset
from catalog_kit.envelope import EventEnvelope
from catalog_kit.tracing import current_traceparent
from catalog_schemas import CANONICAL_BASE_URL, Lane, topic_for

# The relay LISTENs on this channel; the payload is empty because the row itself is the message.
NOTIFY_CHANNEL = "catalog_outbox"
LANE_RANK = {Lane.INTERACTIVE: 0, Lane.BULK: 1}

metadata = MetaData()

outbox = Table(
    "outbox",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("event_id", UUID(as_uuid=False), nullable=False, unique=True),
    Column("aggregate_type", Text, nullable=False),
    Column("aggregate_id", Text, nullable=False),
    Column("event_type", Text, nullable=False),
    Column("topic", Text, nullable=False),
    Column("payload", JSONB, nullable=False),
    Column("headers", JSONB, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("published_at", DateTime(timezone=True)),
    # 0: interactive, 1: bulk (`LANE_RANK`). The relay publishes lane 0 first, so bulk never delays interactive.
    Column("lane", SmallInteger, nullable=False, server_default=text("0")),
    # The relay's only query: unpublished rows by lane, oldest first. A partial index keeps it small however
    # many published rows wait for clean-up.
    Index("outbox_unpublished_by_lane", "lane", "id", postgresql_where=text("published_at IS NULL")),
    Index("outbox_published_at", "published_at", postgresql_where=text("published_at IS NOT NULL")),
)


class OutboxWriter:
    """Adds events to the caller's transaction and wakes the relay when that transaction commits."""

    def __init__(self, source: str, schema_base_url: str = CANONICAL_BASE_URL, lane: Lane = Lane.INTERACTIVE) -> None:
        """`schema_base_url`: PUBLIC_BASE_URL, so that `ce_dataschema` is where the product API serves the schema.
        `lane`: where this writer's events go unless a call says otherwise (bulk writers such as the importer)."""
        self.source = source
        self.schema_base_url = schema_base_url
        self.lane = lane

    def add(
        self,
        session: Session,
        *,
        event_type: str,
        aggregate_type: str,
        aggregate_id: str,
        data: Mapping[str, Any],
        traceparent: str | None = None,
        lane: Lane | None = None,
    ) -> EventEnvelope:
        """Stage one event in `session`'s transaction; nothing is visible to the relay before commit.
        `lane`: None for the writer's own; a processor passes the lane of the event it derives from."""
        return self.add_many(
            session, [PendingEvent(event_type, aggregate_type, aggregate_id, data)], traceparent, lane
        )[0]

    def add_many(
        self,
        session: Session,
        events: Sequence["PendingEvent"],
        traceparent: str | None = None,
        lane: Lane | None = None,
    ) -> list[EventEnvelope]:
        """Stage several events in one statement (bulk writers such as the importer); same rules as `add`."""
        if not events:
            return []
        envelopes, rows = self._rows(events, traceparent, lane)
        select_rows, names, params = recordset(outbox, rows)
        session.execute(insert(outbox).from_select(names, select_rows), params)
        # NOTIFY is transactional: delivered on commit, dropped on rollback, folded if repeated.
        session.execute(text(f"NOTIFY {NOTIFY_CHANNEL}"))
        return envelopes

    def copy_many(
        self,
        session: Session,
        events: Sequence["PendingEvent"],
        traceparent: str | None = None,
        lane: Lane | None = None,
    ) -> list[EventEnvelope]:
        """`add_many` for large batches (an import chunk): the same rows, written with COPY."""
        if not events:
            return []
        envelopes, rows = self._rows(events, traceparent, lane)
        names = list(rows[0])
        json_columns = {"payload", "headers"}
        copy_rows(
            session,
            outbox,
            names,
            (tuple(_json(row[name]) if name in json_columns else row[name] for name in names) for row in rows),
        )
        session.execute(text(f"NOTIFY {NOTIFY_CHANNEL}"))
        return envelopes

    def _rows(
        self, events: Sequence["PendingEvent"], traceparent: str | None, lane: Lane | None
    ) -> tuple[list[EventEnvelope], list[dict[str, Any]]]:
        """The events' envelopes and their outbox rows. An event's own traceparent (a processor's, per record) goes
        before the call's; without either, the row carries the current span's context (the request that wrote it)."""
        lane = lane or self.lane
        traceparent = traceparent or current_traceparent()
        envelopes = [
            EventEnvelope(
                type=e.event_type,
                source=self.source,
                subject=e.aggregate_id,
                data=e.data,
                id=event_id,
                traceparent=e.traceparent or traceparent,
                lane=lane,
            )
            for e, event_id in zip(events, _event_ids(len(events)), strict=True)
        ]
        rows = [
            {
                "event_id": envelope.id,
                "aggregate_type": event.aggregate_type,
                "aggregate_id": event.aggregate_id,
                "event_type": event.event_type,
                "topic": topic_for(event.event_type, lane).name,
                "lane": LANE_RANK[lane],
                "payload": dict(event.data),
                "headers": envelope.headers(self.schema_base_url),
            }
            for event, envelope in zip(events, envelopes, strict=True)
        ]
        return envelopes, rows


@dataclass(frozen=True)
class PendingEvent:
    """An event to stage: its type, the aggregate it is about, its data, and the trace it continues."""

    event_type: str
    aggregate_type: str
    aggregate_id: str
    data: Mapping[str, Any]
    traceparent: str | None = None  # the context this event continues, if not the writer's call's


def _event_ids(n: int) -> list[str]:
    """`n` random (version 4) UUIDs, as `uuid.uuid4()` makes them, from one os.urandom call: each call lets go of
    the GIL, and a chunk of an import announces hundreds of products."""
    raw = os.urandom(16 * n)
    return [str(uuid.UUID(bytes=raw[i : i + 16], version=4)) for i in range(0, 16 * n, 16)]


# One encoder for every value: `json.dumps` with arguments builds a new encoder on each call.
_json = json.JSONEncoder(default=str, separators=(",", ":")).encode
