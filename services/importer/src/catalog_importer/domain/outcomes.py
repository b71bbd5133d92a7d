"""How a finished import job is announced: `import.completed` or `import.failed` with the job's summary."""

from typing import Any

from catalog_core.domain.imports import ImportJob, JobState

OUTCOME_TYPES = {
    JobState.COMPLETED: "import.completed",
    JobState.COMPLETED_WITH_ERRORS: "import.completed",
    JobState.FAILED: "import.failed",
}  # a cancelled job is announced by nobody: whoever cancelled it knows


def outcome_event(job: ImportJob, public_base_url: str) -> tuple[str, dict[str, Any]] | None:
    """The event type and data announcing `job`'s final state; None for a state that is not announced."""
    event_type = OUTCOME_TYPES.get(job.state)
    if event_type is None or job.finished_at is None:
        return None
    base = public_base_url.rstrip("/")
    return event_type, {
        "job_id": str(job.id),
        "state": str(job.state),
        "mode": str(job.mode),
        "format": str(job.format),
        "file": {"name": job.file_name, "bytes": job.file_bytes},
        "rows": {
            "total": job.rows_total,
            "processed": job.rows_processed,
            "created": job.rows_created,
            "updated": job.rows_updated,
            "unchanged": job.rows_unchanged,
            "failed": job.rows_failed,
            "skipped": job.rows_skipped,
        },
        "failed_rows_by_category": dict(sorted(job.error_counts.items())),
        "error": job.error,
        "submitted_by": job.submitted_by,
        "created_at": job.created_at.isoformat(),
        "started_at": job.started_at.isoformat() if job.started_at else None,
        "finished_at": job.finished_at.isoformat(),
        "links": {"status": f"{base}/imports/{job.id}", "rows": f"{base}/imports/{job.id}/rows"},
    }
