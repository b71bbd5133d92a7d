"""Import commands: submit, cancel, retry — each one transaction holding the job row and its outbox event."""

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

from catalog_core.adapters.imports import ImportJobRepository
from catalog_core.domain.imports import (
    FeedFormat,
    ImportJob,
    ImportJobNotFound,
    JobMode,
    JobState,
    RowStatus,
    cancel_outcome,
    check_retryable,
)
from catalog_core.service_layer.imports import request_import, submit_import
from catalog_kit.object_store import StoredObject
from catalog_kit.outbox import OutboxWriter


class ImportRequests:
    """What a client can ask of import jobs; the importer does the work when `import.requested` wakes it.

    `owner` is whose jobs the client may see and change (`submitted_by`); None: every job (an admin). Another
    owner's job is reported as not found, like a job that does not exist, so job ids reveal nothing.
    """

    def __init__(
        self, session: Session, outbox: OutboxWriter, owner: str | None = None, traceparent: str | None = None
    ) -> None:
        """`traceparent`: the request's trace, kept on the job so that the events of its rows continue it."""
        self.session = session
        self.traceparent = traceparent
        self.jobs = ImportJobRepository(session)
        self.outbox = outbox
        self.owner = owner

    def submit(
        self, job_id: uuid.UUID, feed: StoredObject, format: FeedFormat, file_name: str | None, submitted_by: str
    ) -> ImportJob:
        """Record a job for a feed already in the object store, and ask for it to be run."""
        return submit_import(self.session, self.outbox, job_id, feed, format, file_name, submitted_by, self.traceparent)

    def get(self, job_id: uuid.UUID) -> ImportJob:
        return self._visible(job_id, self.jobs.get(job_id))

    def page(self, *, state: JobState | None, before: uuid.UUID | None, limit: int) -> list[ImportJob]:
        """The jobs the client may see, newest first."""
        return self.jobs.page(state=state, before=before, limit=limit, submitted_by=self.owner)

    def rows(
        self, job_id: uuid.UUID, *, statuses: Sequence[RowStatus] | None, after: int, limit: int
    ) -> list[dict[str, Any]]:
        """The ledger of a job the client may see, in row order after row `after`."""
        self.get(job_id)
        return self.jobs.rows(job_id, statuses=statuses, after=after, limit=limit)

    def cancel(self, job_id: uuid.UUID) -> ImportJob:
        """Cancel a pending job now; ask a running one to stop at its next chunk boundary."""
        job = self._lock(job_id)
        if cancel_outcome(job.state) is JobState.CANCELLED:
            return self.jobs.update(
                job_id, state=JobState.CANCELLED, cancel_requested=True, finished_at=datetime.now(UTC)
            )
        return self.jobs.update(job_id, cancel_requested=True)

    def retry_failed(
        self, job_id: uuid.UUID, corrected: StoredObject | None = None, format: FeedFormat | None = None
    ) -> ImportJob:
        """Run the failed rows again: from the job's feed, or from a corrected copy of it (same row order)."""
        job = self._lock(job_id)
        check_retryable(job.state)
        source = {}
        if corrected is not None:
            source = {
                "object_key": corrected.key,
                "file_bytes": corrected.size,
                "file_sha256": corrected.sha256,
                "format": format or job.format,
            }
        job = self.jobs.update(
            job_id,
            state=JobState.PENDING,
            mode=JobMode.RETRY,
            retries=job.retries + 1,
            attempts=0,
            bytes_done=0,
            next_row=1,
            next_line=1,
            run_rows=0,
            cancel_requested=False,
            error=None,
            last_error=None,
            claimed_by=None,
            claim_token=None,
            heartbeat_at=None,
            not_before=None,
            started_at=None,
            finished_at=None,
            traceparent=self.traceparent,
            **source,
        )
        self._request(job)
        return job

    def _lock(self, job_id: uuid.UUID) -> ImportJob:
        return self._visible(job_id, self.jobs.get(job_id, for_update=True))

    def _visible(self, job_id: uuid.UUID, job: ImportJob | None) -> ImportJob:
        if job is None or (self.owner is not None and job.submitted_by != self.owner):
            raise ImportJobNotFound(job_id)
        return job

    def _request(self, job: ImportJob) -> None:
        request_import(self.session, self.outbox, job, self.traceparent)
