"""Import job rules: declared formats, which command each state allows, progress and counts."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from catalog_core.domain.imports import (
    ErrorCategory,
    FeedFormat,
    ImportJob,
    JobConflict,
    JobMode,
    JobState,
    RowStatus,
    UnknownFormat,
    cancel_outcome,
    check_retryable,
    declared_format,
    final_state,
)
from catalog_importer.domain.feed import FeedRow, FieldError, Position
from catalog_importer.domain.products import RowOutcome
from catalog_importer.domain.tally import Previous, Tally

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def job(**changes: object) -> ImportJob:
    values: dict[str, object] = {
        "id": uuid.uuid4(),
        "state": JobState.PROCESSING,
        "mode": JobMode.IMPORT,
        "format": FeedFormat.CSV,
        "file_name": "feed.csv",
        "object_key": "imports/x/feed",
        "file_bytes": 1000,
        "file_sha256": "0" * 64,
        "submitted_by": "0123456789abcdef",
        "rows_total": None,
        "rows_processed": 40,
        "rows_created": 30,
        "rows_updated": 2,
        "rows_unchanged": 3,
        "rows_failed": 4,
        "rows_skipped": 1,
        "error_counts": {"VALIDATION": 4},
        "bytes_done": 250,
        "next_row": 41,
        "next_line": 42,
        "run_rows": 40,
        "retries": 0,
        "attempts": 1,
        "claimed_by": "w-1",
        "cancel_requested": False,
        "error": None,
        "last_error": None,
        "created_at": T0,
        "started_at": T0,
        "finished_at": None,
        "updated_at": T0,
    }
    values.update(changes)
    return ImportJob(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("name", "media_type", "expected"),
    [
        ("csv", None, FeedFormat.CSV),
        (" JSONL ", "text/csv", FeedFormat.JSONL),  # the field wins over the part's type
        ("ndjson", None, FeedFormat.JSONL),
        (None, "text/csv; charset=utf-8", FeedFormat.CSV),
        (None, "application/x-ndjson", FeedFormat.JSONL),
    ],
)
def test_the_declared_format(name: str | None, media_type: str | None, expected: FeedFormat) -> None:
    assert declared_format(name, media_type) is expected


@pytest.mark.parametrize(("name", "media_type"), [("xlsx", None), (None, None), (None, "application/octet-stream")])
def test_an_undeclared_or_unknown_format_is_refused(name: str | None, media_type: str | None) -> None:
    with pytest.raises(UnknownFormat):
        declared_format(name, media_type)


def test_cancel_is_immediate_when_pending_deferred_when_running_refused_when_finished() -> None:
    assert cancel_outcome(JobState.PENDING) is JobState.CANCELLED
    assert cancel_outcome(JobState.PROCESSING) is JobState.PROCESSING
    for state in (JobState.COMPLETED, JobState.COMPLETED_WITH_ERRORS, JobState.FAILED, JobState.CANCELLED):
        with pytest.raises(JobConflict):
            cancel_outcome(state)


def test_only_a_job_with_failed_rows_can_be_retried() -> None:
    check_retryable(JobState.COMPLETED_WITH_ERRORS)
    for state in set(JobState) - {JobState.COMPLETED_WITH_ERRORS}:
        with pytest.raises(JobConflict):
            check_retryable(state)
    assert final_state(0) is JobState.COMPLETED
    assert final_state(1) is JobState.COMPLETED_WITH_ERRORS


def test_progress_is_by_bytes_and_the_rate_over_the_run() -> None:
    running = job()
    assert running.progress_percent() == 25.0
    assert running.rows_per_second(T0 + timedelta(seconds=8)) == 5.0
    assert job(state=JobState.COMPLETED, bytes_done=999).progress_percent() == 100.0
    assert job(started_at=None).rows_per_second(T0) is None
    view = running.view(T0 + timedelta(seconds=4))
    assert view["rows"] == {
        "total": None,
        "processed": 40,
        "succeeded": 35,
        "created": 30,
        "updated": 2,
        "unchanged": 3,
        "failed": 4,
        "skipped": 1,
    }
    assert view["rows_per_second"] == 10.0
    assert view["error_summary"] == {"VALIDATION": 4}
    assert view["status_url"] == f"/imports/{running.id}"


def outcome(number: int, status: RowStatus, category: ErrorCategory | None = None) -> RowOutcome:
    row = FeedRow(number, number + 1, Position(), {})
    errors = (FieldError("price", "bad", "x"),) if category else ()
    return RowOutcome(row, status, category, errors)


def test_a_tally_counts_new_rows_and_moves_retried_ones() -> None:
    start = Tally.of(job())
    after = start.add([outcome(41, RowStatus.CREATED), outcome(42, RowStatus.FAILED, ErrorCategory.DUPLICATE)], {})
    assert (after.processed, after.created, after.failed) == (42, 31, 5)
    assert after.errors == {"DUPLICATE": 1, "VALIDATION": 4}
    retried = after.add(
        [outcome(7, RowStatus.UPDATED), outcome(8, RowStatus.CREATED)],
        {
            7: Previous(RowStatus.FAILED, ErrorCategory.VALIDATION, 1),
            8: Previous(RowStatus.SKIPPED, None, 1),
        },
    )
    assert (retried.processed, retried.failed, retried.skipped) == (42, 4, 0)
    assert (retried.created, retried.updated) == (32, 3)
    assert retried.errors == {"DUPLICATE": 1, "VALIDATION": 3}
