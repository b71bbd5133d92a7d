"""The indexer's composition root: picks the adapters for the settings and wires them into the service layer."""

from catalog_indexer.adapters.metrics import FreshnessMetrics
from catalog_indexer.adapters.read_model import SearchDocuments
from catalog_indexer.service_layer.indexing import Indexer
from catalog_indexer.settings import IndexerSettings
from catalog_kit.db import make_engine
from catalog_schemas.topics import PRODUCT
from catalog_stream.processor import Processor


def build(settings: IndexerSettings) -> Processor:
    """The indexer's stream processor: product events, a partition's batch at a time, go to `Indexer.handle_batch`."""
    processor = Processor("indexer", settings)
    documents = SearchDocuments(make_engine(settings.database_url, pool_size=2))
    processor.batch_agent(PRODUCT, Indexer(documents, FreshnessMetrics()).handle_batch)
    return processor
