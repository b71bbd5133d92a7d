"""The transactional outbox: an event is stored in the same transaction as the change it announces.

Every service that changes catalog data writes its events through `OutboxWriter`; the relay publishes them.
"""

from collections.abc import Mapping
from typing import Any

from catalog_schemas import topic_for
from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Index,
    MetaData,
    Table,
    Text,
    func,
    insert,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Session

from catalog_kit.envelope import EventEnvelope

# The relay LISTENs on this channel; the payload is empty because the row itself is the message.
NOTIFY_CHANNEL = "catalog_outbox"

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
    # The relay's only query: unpublished rows, oldest first. A partial index keeps it small however
    # many published rows wait for clean-up.
    Index("outbox_unpublished", "id", postgresql_where=text("published_at IS NULL")),
    Index("outbox_published_at", "published_at", postgresql_where=text("published_at IS NOT NULL")),
)


class OutboxWriter:
    """Adds events to the caller's transaction and wakes the relay when that transaction commits."""

    def __init__(self, source: str) -> None:
        self.source = source

    def add(
        self,
        session: Session,
        *,
        event_type: str,
        aggregate_type: str,
        aggregate_id: str,
        data: Mapping[str, Any],
        traceparent: str | None = None,
    ) -> EventEnvelope:
        """Stage one event in `session`'s transaction; nothing is visible to the relay before commit."""
        envelope = EventEnvelope(
            type=event_type, source=self.source, subject=aggregate_id, data=data, traceparent=traceparent
        )
        session.execute(
            insert(outbox).values(
                event_id=envelope.id,
                aggregate_type=aggregate_type,
                aggregate_id=aggregate_id,
                event_type=event_type,
                topic=topic_for(event_type).name,
                payload=dict(data),
                headers=envelope.headers(),
            )
        )
        # NOTIFY is transactional: delivered on commit, dropped on rollback, folded if repeated.
        session.execute(text(f"NOTIFY {NOTIFY_CHANNEL}"))
        return envelope
