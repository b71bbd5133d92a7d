"""Indexer and search API settings (environment variables, typed defaults)."""

from catalog_stream.processor import ProcessorSettings


class IndexerSettings(ProcessorSettings):
    search_host: str = "127.0.0.1"
    search_port: int = 8001
    search_page_size_max: int = 100
    search_max_offset: int = 10_000
    # Share of a query's trigrams a name/brand must contain to count as a typo match (pg_trgm word similarity).
    search_fuzzy_threshold: float = 0.4
    # Report hits whose enrichment is pending to the enricher (`enrichment.requested`, critical), after the response.
    search_report_pending: bool = True
