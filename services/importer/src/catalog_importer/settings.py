"""Importer settings (environment variables, typed defaults)."""

import os
import socket

from pydantic import Field

from catalog_stream.processor import ProcessorSettings


class ImporterSettings(ProcessorSettings):
    import_chunk_rows: int = Field(default=1000, ge=1, description="Rows per chunk: one transaction each.")
    import_max_jobs: int = Field(
        default=4,
        ge=1,
        description="Jobs one importer process runs at the same time; they take turns at the chunk slots.",
    )
    import_chunk_slots: int = Field(
        default=2,
        ge=1,
        description="Chunks one importer process writes at the same time, handed out round-robin by running job.",
    )
    import_heartbeat_interval_s: float = 2.0
    import_stale_after_s: float = Field(
        default=30.0, description="A running job whose heartbeat is older than this is taken over by another worker."
    )
    import_watchdog_interval_s: float = Field(
        default=5.0, description="How often each importer looks for pending, abandoned and exhausted jobs."
    )
    import_max_attempts: int = Field(default=3, ge=1, description="Claims of one job run before it is FAILED.")
    import_max_row_attempts: int = Field(default=3, ge=1, description="Times retry-failed may process one row.")
    import_retry_backoff_s: float = Field(default=5.0, description="Wait before a job handed back after an error.")
    import_worker_id: str = Field(default_factory=lambda: f"{socket.gethostname()}-{os.getpid()}")
    import_metrics_interval_s: float = Field(
        default=5.0, gt=0, description="How often the jobs-by-state gauge is read from the database, and rows/s taken."
    )
    feed_pull_max_bytes: int = Field(default=1024**3, ge=1, description="Largest feed a scheduled pull stores.")
    feed_pull_timeout_s: float = Field(default=600.0, gt=0, description="Longest a scheduled feed download may take.")
    scheduler_tick_s: float = Field(default=5.0, gt=0, description="How often due feed pulls are looked for.")
