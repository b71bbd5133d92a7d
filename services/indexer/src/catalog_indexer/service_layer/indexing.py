"""Indexing product events: the parts of search documents they carry, applied in one transaction if newer."""

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from jsonschema import ValidationError

from catalog_indexer.domain.document import INDEXED_TYPES, DocumentPart, part_of
from catalog_kit.envelope import EventEnvelope
from catalog_schemas import validate_event
from catalog_schemas.topics import Lane
from catalog_stream.processor import PermanentFailure

log = logging.getLogger("catalog_indexer")


class SearchDocumentParts(Protocol):
    """The search read model, written a batch of document parts at a time; the products in `announce` that the
    batch changed are announced to the search API processes when it commits (their fresh-product overlay)."""

    def apply_many(self, parts: Sequence[DocumentPart], announce: Sequence[str] = ()) -> int: ...


class IndexingObserver(Protocol):
    """Told which events the read model has just committed (the freshness metric)."""

    def committed(self, events: Sequence[EventEnvelope]) -> None: ...


@dataclass
class Indexer:
    documents: SearchDocumentParts
    observer: IndexingObserver | None = None

    async def handle(self, event: EventEnvelope) -> None:
        """Apply the document part one event carries."""
        await self.handle_batch([event])

    async def handle_batch(self, events: Sequence[EventEnvelope]) -> None:
        """Apply the parts the events carry, all or nothing: a failed batch can be retried whole or record by record.

        Every event is checked before anything is written, so an event that breaks its contract fails the batch
        with `PermanentFailure` and leaves the read model as it was.
        """
        carried = [(event, part) for event in events if (part := _part(event)) is not None]
        parts = [part for _, part in carried]
        if not parts:
            return
        interactive = [part.product_id for event, part in carried if event.lane is Lane.INTERACTIVE]
        # apply_many folds the parts per product and kind itself: any mix of versions applies as one by one would.
        changed = await asyncio.to_thread(self.documents.apply_many, parts, interactive)
        if self.observer is not None:
            self.observer.committed([event for event in events if event.type in INDEXED_TYPES])
        log.debug(
            "indexed",
            extra={"events": len(events), "first_event_id": events[0].id, "parts": len(parts), "changed": changed},
        )


def _part(event: EventEnvelope) -> DocumentPart | None:
    """The document part an event carries, None for events the search model does not use."""
    if event.type not in INDEXED_TYPES:
        return None
    try:
        validate_event(event.type, event.data)
        return part_of(event.type, event.data)
    except (ValidationError, KeyError, ValueError) as exc:
        raise PermanentFailure(f"event {event.id} ({event.type}) breaks its contract: {exc}") from exc
