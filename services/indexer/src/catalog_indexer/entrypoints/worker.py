"""The `catalog-indexer` command: keeps the search read model in step with the product topic."""

import asyncio
import logging

from jsonschema import ValidationError

from catalog_indexer.adapters.read_model import SearchDocuments
from catalog_indexer.domain.document import INDEXED_TYPES, part_of
from catalog_indexer.settings import IndexerSettings
from catalog_kit.db import make_engine
from catalog_kit.envelope import EventEnvelope
from catalog_schemas import validate_event
from catalog_schemas.topics import PRODUCT
from catalog_stream.processor import PermanentFailure, Processor

log = logging.getLogger("catalog_indexer")


def build(settings: IndexerSettings) -> Processor:
    processor = Processor("indexer", settings)
    documents = SearchDocuments(make_engine(settings.database_url, pool_size=2))

    async def index(event: EventEnvelope) -> None:
        if event.type not in INDEXED_TYPES:
            return
        try:
            validate_event(event.type, event.data)
            part = part_of(event.type, event.data)
        except (ValidationError, KeyError, ValueError) as exc:
            raise PermanentFailure(f"{event.type} breaks its contract: {exc}") from exc
        if part is None:
            return
        changed = await asyncio.to_thread(documents.apply, part)
        log.debug(
            "indexed", extra={"event_id": event.id, "product_id": event.subject, "type": event.type, "changed": changed}
        )

    processor.agent(PRODUCT, index)
    return processor


def main() -> None:
    build(IndexerSettings()).run()
