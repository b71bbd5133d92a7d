"""Indexing one product event: the part of the search document it carries, applied if it is newer."""

import asyncio
import logging
from dataclasses import dataclass
from typing import Protocol

from jsonschema import ValidationError

from catalog_indexer.domain.document import INDEXED_TYPES, DocumentPart, part_of
from catalog_kit.envelope import EventEnvelope
from catalog_schemas import validate_event
from catalog_stream.processor import PermanentFailure

log = logging.getLogger("catalog_indexer")


class SearchDocumentParts(Protocol):
    """The search read model, written one document part at a time."""

    def apply(self, part: DocumentPart) -> bool: ...


@dataclass
class Indexer:
    documents: SearchDocumentParts

    async def handle(self, event: EventEnvelope) -> None:
        """Apply the document part an event carries; an event that breaks its contract is dead-lettered."""
        if event.type not in INDEXED_TYPES:
            return
        try:
            validate_event(event.type, event.data)
            part = part_of(event.type, event.data)
        except (ValidationError, KeyError, ValueError) as exc:
            raise PermanentFailure(f"{event.type} breaks its contract: {exc}") from exc
        if part is None:
            return
        changed = await asyncio.to_thread(self.documents.apply, part)
        log.debug(
            "indexed", extra={"event_id": event.id, "product_id": event.subject, "type": event.type, "changed": changed}
        )
