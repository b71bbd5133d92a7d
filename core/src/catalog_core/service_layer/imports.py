"""Asking for an import job: the job row and its `import.requested` event in the caller's transaction. Shared by
the product API (uploads, retries) and the importer (scheduled feed pulls)."""

import uuid

from sqlalchemy.orm import Session

from catalog_core.adapters.imports import ImportJobRepository
from catalog_core.domain.imports import FeedFormat, ImportJob
from catalog_kit.object_store import StoredObject
from catalog_kit.outbox import OutboxWriter

AGGREGATE = "import_job"


def feed_key(job_id: uuid.UUID, correction: uuid.UUID | None = None) -> str:
    """Where a job's feed lives in the object store; a corrected feed sent with a retry gets a key of its own."""
    return f"imports/{job_id}/feed" if correction is None else f"imports/{job_id}/correction-{correction.hex}"


def request_import(session: Session, outbox: OutboxWriter, job: ImportJob, traceparent: str | None = None) -> None:
    """Stage `import.requested` for the job: the importer runs it when the event arrives."""
    outbox.add(
        session,
        event_type="import.requested",
        aggregate_type=AGGREGATE,
        aggregate_id=str(job.id),
        data={
            "job_id": str(job.id),
            "mode": str(job.mode),
            "format": str(job.format),
            "object_key": job.object_key,
            "requested_at": job.updated_at.isoformat(),
        },
        traceparent=traceparent,
    )


def submit_import(
    session: Session,
    outbox: OutboxWriter,
    job_id: uuid.UUID,
    feed: StoredObject,
    format: FeedFormat,
    file_name: str | None,
    submitted_by: str,
    traceparent: str | None = None,
) -> ImportJob:
    """Record a job for a feed already in the object store, and ask for it to be run."""
    job = ImportJobRepository(session).add(
        job_id,
        format=format,
        file_name=file_name,
        object_key=feed.key,
        file_bytes=feed.size,
        file_sha256=feed.sha256,
        submitted_by=submitted_by,
        traceparent=traceparent,
    )
    request_import(session, outbox, job, traceparent)
    return job
