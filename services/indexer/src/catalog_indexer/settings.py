"""Indexer and search API settings (environment variables, typed defaults)."""

from pathlib import Path

from pydantic import Field

from catalog_stream.processor import ProcessorSettings


class IndexerSettings(ProcessorSettings):
    search_host: str = "127.0.0.1"
    search_port: int = 8001
    search_page_size_max: int = 100
    search_max_offset: int = 10_000
    search_index_dir: Path = Field(
        default=Path(".local/search-index"), description="Where the search index lives (its generations)."
    )
    search_index_nice: int = Field(
        default=10, ge=0, le=19, description="How much lower the index writer's CPU priority is than the consumer's."
    )
    search_index_poll_s: float = Field(default=0.1, description="Longest wait for read-model changes between looks.")
    search_index_chunk: int = Field(default=10_000, ge=1, description="Read-model rows per index commit at most.")
    search_index_commit_s: float = Field(
        default=1.0, ge=0, description="Longest wait before staged bulk rows are committed (urgent ones: none)."
    )
    search_result_cache: int = Field(
        default=512, ge=0, description="Answers kept per search API process until the index's next commit."
    )
    search_fresh_max: int = Field(
        default=1000,
        ge=0,
        description="Fresh products a search API process answers for until the index has them (0: no overlay).",
    )
    search_fresh_recheck_s: float = Field(
        default=0.2, gt=0, description="How often the overlay's products are read again while it holds any."
    )
    search_index_heap_mb: int = Field(default=64, ge=16, description="Memory the index writer buffers before a flush.")
    # Report hits whose enrichment is pending to the enricher (`enrichment.requested`, critical), after the response.
    search_report_pending: bool = True
