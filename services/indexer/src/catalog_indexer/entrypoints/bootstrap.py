"""The indexer's composition root: picks the adapters for the settings and wires them into the service layer."""

import asyncio
import threading

from catalog_indexer.adapters.metrics import FreshnessMetrics
from catalog_indexer.adapters.read_model import FreshNotices, SearchDocuments
from catalog_indexer.adapters.search_index import FreshOverlay, IndexGenerations, SearchIndex
from catalog_indexer.service_layer.fresh_products import FreshProducts
from catalog_indexer.service_layer.index_follower import IndexFollower
from catalog_indexer.service_layer.indexing import Indexer
from catalog_indexer.settings import IndexerSettings
from catalog_kit.db import make_engine
from catalog_schemas.topics import PRODUCT
from catalog_stream.processor import Processor


def index_follower(settings: IndexerSettings, documents: SearchDocuments) -> IndexFollower:
    """What keeps the search index in step with the read model `documents`."""
    generations = IndexGenerations(settings.search_index_dir, heap_bytes=settings.search_index_heap_mb * 1_000_000)
    return IndexFollower(
        documents, generations, chunk=settings.search_index_chunk, commit_every_s=settings.search_index_commit_s
    )


def fresh_products(
    settings: IndexerSettings,
    documents: SearchDocuments,
    notices: FreshNotices,
    overlay: FreshOverlay,
    index: SearchIndex,
) -> FreshProducts:
    """What keeps a search API process's overlay of fresh products (`overlay`, beside `index`) filled."""
    return FreshProducts(notices, documents, overlay, index.position, recheck_s=settings.search_fresh_recheck_s)


def build(settings: IndexerSettings) -> Processor:
    """The indexer's stream processor: product events, a partition's batch at a time, go to `Indexer.handle_batch`;
    beside it, in a thread of its own, the follower that applies the read model's changes to the search index."""
    processor = Processor("indexer", settings)
    documents = SearchDocuments(make_engine(settings.database_url, pool_size=3))
    follower = index_follower(settings, documents) if settings.search_index_follow else None
    indexer = Indexer(documents, FreshnessMetrics(), on_changed=follower.wake if follower else None)
    processor.batch_agent(PRODUCT, indexer.handle_batch)
    if follower is not None:
        stop = threading.Event()
        thread = threading.Thread(
            target=follower.run, args=(stop, settings.search_index_poll_s), name="search-index", daemon=True
        )
        thread.start()

        @processor.on_shutdown
        async def stop_following() -> None:
            stop.set()
            follower.wake()
            await asyncio.to_thread(thread.join, settings.shutdown_grace_s)

    return processor
