"""What operators did about dead letters: Kafka topics are append-only, so a replay or a discard is recorded here
(migration 0005), one row per record (processor, partition, offset), with the record's fingerprint."""

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import BigInteger, Column, DateTime, Integer, MetaData, Table, Text, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

metadata = MetaData()

dead_letter_resolutions = Table(
    "dead_letter_resolutions",
    metadata,
    Column("processor", Text, primary_key=True),
    Column("partition", Integer, primary_key=True),
    Column("offset", BigInteger, primary_key=True),
    Column("fingerprint", Text, nullable=False),
    Column("action", Text, nullable=False),
    Column("resolved_by", Text, nullable=False),
    Column("resolved_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("note", Text),
)


class Resolution(StrEnum):
    REPLAYED = "replayed"
    DISCARDED = "discarded"


@dataclass(frozen=True)
class Resolved:
    action: Resolution
    by: str
    at: datetime
    note: str | None


RecordId = tuple[int, int]  # (partition, offset)


class DeadLetterResolutions:
    """Resolutions of one processor's dead letters, in the caller's transaction."""

    def __init__(self, session: Session, processor: str) -> None:
        self.session, self.processor = session, processor

    def record(self, record: RecordId, fingerprint: str, action: Resolution, by: str, note: str | None = None) -> None:
        """Record (or replace: a discarded record may be replayed after all) what was done about one record."""
        values = {
            "processor": self.processor,
            "partition": record[0],
            "offset": record[1],
            "fingerprint": fingerprint,
            "action": str(action),
            "resolved_by": by,
            "note": note,
        }
        statement = insert(dead_letter_resolutions).values(**values)
        self.session.execute(
            statement.on_conflict_do_update(
                index_elements=["processor", "partition", "offset"],
                set_={
                    **{k: statement.excluded[k] for k in values if k not in ("processor", "partition", "offset")},
                    "resolved_at": func.now(),
                },
            )
        )

    def of(self, fingerprints: dict[RecordId, str]) -> dict[RecordId, Resolved]:
        """The resolutions of these records that still describe them (same fingerprint)."""
        if not fingerprints:
            return {}
        rows = self.session.execute(
            select(dead_letter_resolutions).where(dead_letter_resolutions.c.processor == self.processor)
        )
        found: dict[RecordId, Resolved] = {}
        for row in rows:
            record = (row.partition, row.offset)
            if fingerprints.get(record) == row.fingerprint:
                found[record] = Resolved(Resolution(row.action), row.resolved_by, row.resolved_at, row.note)
        return found
