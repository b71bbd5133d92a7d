"""The indexer's composition root: picks the adapters for the settings and wires them into the service layer."""

import logging
import os
import threading

from catalog_indexer.adapters.metrics import FreshnessMetrics
from catalog_indexer.adapters.read_model import FreshNotices, SearchDocuments
from catalog_indexer.adapters.search_index import FreshOverlay, IndexGenerations, SearchIndex
from catalog_indexer.service_layer.fresh_products import FreshProducts
from catalog_indexer.service_layer.index_follower import IndexFollower
from catalog_indexer.service_layer.indexing import Indexer
from catalog_indexer.settings import IndexerSettings
from catalog_kit.db import libpq_conninfo, make_engine
from catalog_schemas.topics import PRODUCT
from catalog_stream.processor import Processor

log = logging.getLogger("catalog_indexer.index_follower")


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
    """The indexer's stream processor: product events, a partition's batch at a time, go to `Indexer.handle_batch`.

    It writes the read model only; the search index follows the read model in a process of its own
    (`follow_index`), so index commits never hold up the read model, which the fresh-product overlay answers from.
    """
    processor = Processor("indexer", settings)
    documents = SearchDocuments(make_engine(settings.database_url, pool_size=3))
    processor.batch_agent(PRODUCT, Indexer(documents, FreshnessMetrics()).handle_batch)
    return processor


def follow_index(settings: IndexerSettings, stop: threading.Event) -> None:
    """Keep the search index in step with the read model until `stop` is set: the index's one writer.

    Runs at a lower CPU priority (`SEARCH_INDEX_NICE`): under a bulk feed the consumer that writes the read model
    comes first, since fresh products are answered from the read model through the search API's overlay. Products
    announced as fresh are applied ahead of the bulk changes, for a search API that missed the announcement.
    """
    if settings.search_index_nice:
        os.nice(settings.search_index_nice)
    engine = make_engine(settings.database_url, pool_size=2)
    follower = index_follower(settings, SearchDocuments(engine))
    notices = FreshNotices(libpq_conninfo(settings.database_url))

    def listen() -> None:
        while not stop.is_set():
            try:
                if announced := notices.wait(1.0):
                    follower.wake(announced)
            except Exception as exc:  # the database restarting: announcements are missed, following is not
                log.warning("fresh notices not read", extra={"error": f"{type(exc).__name__}: {exc}"[:300]})
                notices.close()
                stop.wait(1.0)
        notices.close()

    threading.Thread(target=listen, name="fresh-notices", daemon=True).start()
    try:  # the follower looks at `stop` at least every SEARCH_INDEX_POLL_S
        follower.run(stop, settings.search_index_poll_s)
    finally:
        engine.dispose()
