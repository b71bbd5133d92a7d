"""The importer's own metrics: jobs by state (all importers' jobs, read from the database on a timer), and the rows
this process wrote, by status and failure category, counted per committed chunk."""

import threading

from prometheus_client import Counter, Gauge
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from catalog_core.adapters.imports import import_jobs
from catalog_core.domain.imports import ErrorCategory, JobState, RowStatus
from catalog_importer.service_layer.chunks import ChunkResult
from catalog_kit.metrics import RateMeter

JOBS = Gauge("catalog_import_jobs", "Import jobs by state, all of the catalog's (read every few seconds).", ["state"])
ROWS = Counter("catalog_import_rows", "Feed rows this importer committed, by outcome.", ["status"])
FAILED_ROWS = Counter("catalog_import_failed_rows", "Feed rows that failed, by category.", ["category"])
ROWS_PER_SECOND = Gauge("catalog_import_rows_per_second", "Rows committed per second over the last sampling period.")


class ImportMetrics:
    """Counts committed chunks (from the chunk threads) and samples jobs by state (from the processor's timer)."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions
        self._rows = {status.value: ROWS.labels(status.value) for status in RowStatus}
        self._failed = {category.value: FAILED_ROWS.labels(category.value) for category in ErrorCategory}
        self._rate = RateMeter()
        self._lock = threading.Lock()  # chunks commit on several threads; the meter is read on the loop's

    def chunk_committed(self, result: ChunkResult) -> None:
        for status, count in result.by_status.items():
            self._rows[status].inc(count)
        for category, count in result.failed_by_category.items():
            self._failed[category].inc(count)
        with self._lock:
            self._rate.add(sum(result.by_status.values()))

    def sample(self) -> None:
        """Jobs by state from the database (every state, 0 when none), and the rows/s of the period just ended."""
        with self.sessions() as session:
            rows = session.execute(select(import_jobs.c.state, func.count()).group_by(import_jobs.c.state)).all()
        counts: dict[str, int] = {str(state): int(count) for state, count in rows}
        for state in JobState:
            JOBS.labels(state.value).set(counts.get(state.value, 0))
        with self._lock:
            ROWS_PER_SECOND.set(self._rate.sample())
