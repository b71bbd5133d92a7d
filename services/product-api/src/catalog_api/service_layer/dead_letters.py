"""Operators' dead-letter desk: a processor's dead letters with what was done about them, replay, discard.

Dead letters are read from their Kafka topic (`catalog_kit.dead_letters`); what operators did is recorded in the
catalog database (`dead_letter_resolutions`), since a topic cannot be changed. A replay is recorded only after the
broker acknowledged the record, so a replay that failed is never shown as done.
"""

import json
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from catalog_core.adapters.dead_letter_resolutions import DeadLetterResolutions, RecordId, Resolution, Resolved
from catalog_kit.dead_letters import DeadLetter, read, replay
from catalog_kit.settings import CatalogSettings


@dataclass(frozen=True)
class LetterView:
    """One dead letter as operators see it."""

    processor: str
    letter: DeadLetter
    resolution: Resolved | None

    @property
    def record(self) -> RecordId:
        return (self.letter.partition, self.letter.offset)

    @property
    def key(self) -> str:
        return (self.letter.key or b"").decode(errors="replace")

    @property
    def error(self) -> str:
        return self.letter.reason.get("dlq_error", "")

    @property
    def failed_at(self) -> datetime | None:
        try:
            return datetime.fromtimestamp(float(self.letter.reason["dlq_time"]), UTC)
        except (KeyError, ValueError, OverflowError):
            return None

    @property
    def payload(self) -> Any:
        """The record's value as JSON when it is JSON, else its text."""
        text = (self.letter.value or b"").decode(errors="replace")
        try:
            return json.loads(text)
        except ValueError:
            return text

    @property
    def headers(self) -> list[tuple[str, str]]:
        return [(k, v.decode(errors="replace")) for k, v in self.letter.headers]

    @property
    def event_type(self) -> str:
        return dict(self.headers).get("ce_type", "")

    @property
    def sku(self) -> str:
        payload = self.payload
        return str(payload.get("sku") or "") if isinstance(payload, dict) else ""

    def matches(self, text: str) -> bool:
        """Whether `text` is (part of) the record's product id, SKU, error or event type (case-insensitive)."""
        needle = text.strip().lower()
        return any(needle in field.lower() for field in (self.key, self.sku, self.error, self.event_type))

    def view(self) -> dict[str, Any]:
        return {
            "processor": self.processor,
            "partition": self.letter.partition,
            "offset": self.letter.offset,
            "key": self.key,
            "event_type": self.event_type,
            "sku": self.sku or None,
            "error": self.error,
            "reason": self.letter.reason,
            "failed_at": self.failed_at.isoformat() if self.failed_at else None,
            "headers": dict(self.headers),
            "payload": self.payload,
            "resolution": None
            if self.resolution is None
            else {
                "action": self.resolution.action,
                "by": self.resolution.by,
                "at": self.resolution.at.isoformat(),
                "note": self.resolution.note,
            },
        }


@dataclass(frozen=True)
class ReplayOutcome:
    sent: list[RecordId]
    refused: dict[RecordId, str]


class DeadLetterDesk:
    """One processor's dead letters (blocking: Kafka and the database; call it off the event loop)."""

    def __init__(
        self, settings: CatalogSettings, sessions: sessionmaker[Session], processor: str, scan_max: int
    ) -> None:
        self.settings, self.sessions, self.processor, self.scan_max = settings, sessions, processor, scan_max

    def letters(self, text: str | None = None, include_resolved: bool = False) -> list[LetterView]:
        """Newest first; those discarded or replayed only with `include_resolved`; matching `text` if given."""
        read_letters: list[DeadLetter] = []
        for letter in read(self.settings, self.processor, timeout=5):
            read_letters.append(letter)
            if len(read_letters) > self.scan_max:  # the newest are what operators look at
                read_letters.pop(0)
        with self.sessions() as session:
            resolved = DeadLetterResolutions(session, self.processor).of(
                {(d.partition, d.offset): d.fingerprint for d in read_letters}
            )
        views = [LetterView(self.processor, d, resolved.get((d.partition, d.offset))) for d in reversed(read_letters)]
        return [
            v
            for v in views
            if (include_resolved or v.resolution is None) and (not text or not text.strip() or v.matches(text))
        ]

    def one(self, record: RecordId) -> LetterView | None:
        found = [v for v in self.letters(include_resolved=True) if v.record == record]
        return found[0] if found else None

    def replay(self, records: Collection[RecordId] | None, by: str, force: bool = False) -> ReplayOutcome:
        """Send the chosen records (every open one when None) back to their topics; record each one sent."""
        chosen = [v.letter for v in self.letters(include_resolved=records is not None)]
        result = replay(
            self.settings,
            self.processor,
            None,
            force,
            records=set(records) if records is not None else None,
            letters=chosen,
        )
        sent = [(d.partition, d.offset) for d in result.sent_letters]
        with self.sessions() as session, session.begin():
            resolutions = DeadLetterResolutions(session, self.processor)
            for letter in result.sent_letters:
                resolutions.record((letter.partition, letter.offset), letter.fingerprint, Resolution.REPLAYED, by)
        by_offset = {d.offset: (d.partition, d.offset) for d in chosen}
        return ReplayOutcome(sent, {by_offset[offset]: why for offset, why in result.refused.items()})

    def discard(self, records: Collection[RecordId], by: str, note: str | None = None) -> list[RecordId]:
        """Mark the chosen records discarded (they stay in the topic, hidden from the open list)."""
        found = [v for v in self.letters(include_resolved=True) if v.record in set(records)]
        with self.sessions() as session, session.begin():
            resolutions = DeadLetterResolutions(session, self.processor)
            for view in found:
                resolutions.record(view.record, view.letter.fingerprint, Resolution.DISCARDED, by, note)
        return [v.record for v in found]
