"""Import jobs: their states, row outcomes and error categories, and which command each state allows.

Shared by the API (submit, watch, cancel, retry) and the importer (claim, run, finish): the job row in the catalog
database is the job's source of truth for both.
"""

import uuid
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any


class JobState(StrEnum):
    PENDING = "PENDING"
    PROCESSING = "PROCESSING"
    COMPLETED = "COMPLETED"
    COMPLETED_WITH_ERRORS = "COMPLETED_WITH_ERRORS"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"


FINISHED = frozenset({JobState.COMPLETED, JobState.COMPLETED_WITH_ERRORS, JobState.FAILED, JobState.CANCELLED})


class JobMode(StrEnum):
    IMPORT = "import"  # every row of the feed
    RETRY = "retry"  # only the rows that failed (or were skipped with them) and have attempts left


class FeedFormat(StrEnum):
    CSV = "csv"
    JSONL = "jsonl"


class RowStatus(StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"
    FAILED = "failed"
    SKIPPED = "skipped"  # not written because another row of the same product failed


SUCCEEDED = frozenset({RowStatus.CREATED, RowStatus.UPDATED, RowStatus.UNCHANGED})
NEEDS_ATTENTION = frozenset({RowStatus.FAILED, RowStatus.SKIPPED})


class ErrorCategory(StrEnum):
    VALIDATION = "VALIDATION"  # a product rule (ProductDraft) or the feed's column rules
    DUPLICATE = "DUPLICATE"  # a SKU taken by another product, or a product given twice in one feed
    REFERENCE = "REFERENCE"  # variant rows for a product that is neither in the feed nor in the catalog
    PARSE = "PARSE"  # the row cannot be read: invalid UTF-8, broken CSV quoting, invalid JSON
    INTERNAL = "INTERNAL"  # the catalog refused the write for a reason that is not the row's fault


class ImportJobNotFound(LookupError):
    def __init__(self, job_id: uuid.UUID) -> None:
        super().__init__(f"no import job with id {job_id}")
        self.job_id = job_id


class JobConflict(Exception):
    """The job's state does not allow the command (cancel a finished job, retry a job without failed rows)."""

    def __init__(self, message: str, state: JobState) -> None:
        super().__init__(message)
        self.state = state


_FORMAT_NAMES = {"csv": FeedFormat.CSV, "jsonl": FeedFormat.JSONL, "ndjson": FeedFormat.JSONL}
_FORMAT_MEDIA_TYPES = {
    "text/csv": FeedFormat.CSV,
    "application/csv": FeedFormat.CSV,
    "application/jsonl": FeedFormat.JSONL,
    "application/x-jsonlines": FeedFormat.JSONL,
    "application/x-ndjson": FeedFormat.JSONL,
    "application/ndjson": FeedFormat.JSONL,
}


class UnknownFormat(ValueError):
    """The upload does not say which format it is in, or names one the importer does not read."""


def declared_format(name: str | None, media_type: str | None) -> FeedFormat:
    """The feed format a client declared: the `format` field, else the file part's media type."""
    if name:
        try:
            return _FORMAT_NAMES[name.strip().lower()]
        except KeyError:
            raise UnknownFormat(f"unknown format {name!r}: use csv or jsonl") from None
    media = (media_type or "").split(";")[0].strip().lower()
    if media in _FORMAT_MEDIA_TYPES:
        return _FORMAT_MEDIA_TYPES[media]
    raise UnknownFormat("declare the feed's format: a form field format=csv|jsonl, or the file part's Content-Type")


def cancel_outcome(state: JobState) -> JobState:
    """The state a cancel request leaves the job in: a pending job is cancelled at once, a running one keeps
    running until its runner sees the request at the next chunk boundary."""
    if state is JobState.PENDING:
        return JobState.CANCELLED
    if state is JobState.PROCESSING:
        return JobState.PROCESSING
    raise JobConflict(f"the job is {state}; only a pending or running job can be cancelled", state)


def check_retryable(state: JobState) -> None:
    if state is not JobState.COMPLETED_WITH_ERRORS:
        raise JobConflict(f"the job is {state}; only a job COMPLETED_WITH_ERRORS has failed rows to retry", state)


def final_state(rows_failed: int) -> JobState:
    return JobState.COMPLETED_WITH_ERRORS if rows_failed else JobState.COMPLETED


@dataclass(frozen=True)
class ImportJob:
    """A job as stored (the columns an operator or a runner needs)."""

    id: uuid.UUID
    state: JobState
    mode: JobMode
    format: FeedFormat
    file_name: str | None
    object_key: str
    file_bytes: int
    file_sha256: str
    submitted_by: str | None  # the principal id of the key that submitted the job
    rows_total: int | None
    rows_processed: int
    rows_created: int
    rows_updated: int
    rows_unchanged: int
    rows_failed: int
    rows_skipped: int
    error_counts: dict[str, int]
    bytes_done: int
    next_row: int
    next_line: int
    run_rows: int
    retries: int
    attempts: int
    claimed_by: str | None
    cancel_requested: bool
    error: str | None  # why the job FAILED, for whoever submitted it
    last_error: str | None  # the last run's internal error (exception text): for operators only
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    updated_at: datetime
    traceparent: str | None = None  # the submitting request's trace: the job's row events continue it

    @property
    def rows_succeeded(self) -> int:
        return self.rows_created + self.rows_updated + self.rows_unchanged

    def progress_percent(self) -> float:
        """How much of the feed the current run has read, by bytes: exact without counting rows up front."""
        if self.state in (JobState.COMPLETED, JobState.COMPLETED_WITH_ERRORS):
            return 100.0
        if self.file_bytes <= 0:
            return 0.0
        return round(min(100.0, 100.0 * self.bytes_done / self.file_bytes), 1)

    def rows_per_second(self, now: datetime) -> float | None:
        """Rows read per second by the current run, from its start to its end (or now)."""
        if self.started_at is None:
            return None
        elapsed = ((self.finished_at or now) - self.started_at).total_seconds()
        return round(self.run_rows / elapsed, 1) if elapsed > 0 else None

    def view(self, now: datetime) -> dict[str, Any]:
        """The job as its submitter sees it. Who submitted it, which worker ran it and its internal errors are
        for operators: the API adds them for admin keys."""
        return {
            "id": str(self.id),
            "state": self.state,
            "mode": self.mode,
            "format": self.format,
            "file": {"name": self.file_name, "bytes": self.file_bytes, "sha256": self.file_sha256},
            "rows": {
                "total": self.rows_total,
                "processed": self.rows_processed,
                "succeeded": self.rows_succeeded,
                "created": self.rows_created,
                "updated": self.rows_updated,
                "unchanged": self.rows_unchanged,
                "failed": self.rows_failed,
                "skipped": self.rows_skipped,
            },
            "progress_percent": self.progress_percent(),
            "rows_per_second": self.rows_per_second(now),
            "error_summary": dict(sorted(self.error_counts.items())),
            "error": self.error,
            "cancel_requested": self.cancel_requested,
            "retries": self.retries,
            "attempts": self.attempts,
            "created_at": self.created_at.isoformat(),
            "started_at": self.started_at.isoformat() if self.started_at else None,
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
            "status_url": f"/imports/{self.id}",
            "rows_url": f"/imports/{self.id}/rows",
        }
