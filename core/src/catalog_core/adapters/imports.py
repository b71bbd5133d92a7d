"""Import jobs and their row ledger in PostgreSQL: the tables, and what the API reads and changes of them.

The importer's runner has its own adapter for claiming and progress (`catalog_importer.adapters`); both use the
tables below, created by migration 0003.
"""

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Integer,
    MetaData,
    Row,
    Table,
    Text,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Session

from catalog_core.domain.imports import (
    SUCCEEDED,
    FeedFormat,
    ImportJob,
    JobMode,
    JobState,
    RowStatus,
)

metadata = MetaData()

import_jobs = Table(
    "import_jobs",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("state", Text, nullable=False),
    Column("mode", Text, nullable=False),
    Column("format", Text, nullable=False),
    Column("file_name", Text),
    Column("object_key", Text, nullable=False),
    Column("file_bytes", BigInteger, nullable=False),
    Column("file_sha256", Text, nullable=False),
    Column("submitted_by", Text),
    Column("traceparent", Text),  # the submitting request's trace, continued by the importer
    Column("rows_total", BigInteger),
    Column("rows_processed", BigInteger, nullable=False, server_default="0"),
    Column("rows_created", BigInteger, nullable=False, server_default="0"),
    Column("rows_updated", BigInteger, nullable=False, server_default="0"),
    Column("rows_unchanged", BigInteger, nullable=False, server_default="0"),
    Column("rows_failed", BigInteger, nullable=False, server_default="0"),
    Column("rows_skipped", BigInteger, nullable=False, server_default="0"),
    Column("error_counts", JSONB, nullable=False, server_default="{}"),
    Column("bytes_done", BigInteger, nullable=False, server_default="0"),
    Column("next_row", BigInteger, nullable=False, server_default="1"),
    Column("next_line", BigInteger, nullable=False, server_default="1"),
    Column("run_rows", BigInteger, nullable=False, server_default="0"),
    Column("retries", Integer, nullable=False, server_default="0"),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("claimed_by", Text),
    Column("claim_token", UUID(as_uuid=True)),
    Column("heartbeat_at", DateTime(timezone=True)),
    Column("not_before", DateTime(timezone=True)),
    Column("cancel_requested", Boolean, nullable=False, server_default="false"),
    Column("error", Text),
    Column("last_error", Text),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("started_at", DateTime(timezone=True)),
    Column("finished_at", DateTime(timezone=True)),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

import_rows = Table(
    "import_rows",
    metadata,
    Column("job_id", UUID(as_uuid=True), primary_key=True),
    Column("row_number", BigInteger, primary_key=True),
    Column("line_number", BigInteger, nullable=False),
    Column("sku", Text),
    Column("product_sku", Text),
    Column("product_id", UUID(as_uuid=True)),
    Column("status", Text, nullable=False),
    Column("category", Text),
    Column("field", Text),
    Column("message", Text),
    Column("errors", JSONB),
    Column("attempts", Integer, nullable=False, server_default="1"),
    Column("defined_sku", Text),
    Column("product_version", BigInteger),  # the version the row wrote (or found unchanged)
    Column("written_at", DateTime(timezone=True), server_default=func.now()),  # its chunk's transaction time
)


def job_from_row(row: Row[Any]) -> ImportJob:
    return ImportJob(
        id=row.id,
        state=JobState(row.state),
        mode=JobMode(row.mode),
        format=FeedFormat(row.format),
        file_name=row.file_name,
        object_key=row.object_key,
        file_bytes=row.file_bytes,
        file_sha256=row.file_sha256,
        submitted_by=row.submitted_by,
        traceparent=row.traceparent,
        rows_total=row.rows_total,
        rows_processed=row.rows_processed,
        rows_created=row.rows_created,
        rows_updated=row.rows_updated,
        rows_unchanged=row.rows_unchanged,
        rows_failed=row.rows_failed,
        rows_skipped=row.rows_skipped,
        error_counts=dict(row.error_counts),
        bytes_done=row.bytes_done,
        next_row=row.next_row,
        next_line=row.next_line,
        run_rows=row.run_rows,
        retries=row.retries,
        attempts=row.attempts,
        claimed_by=row.claimed_by,
        cancel_requested=row.cancel_requested,
        error=row.error,
        last_error=row.last_error,
        created_at=row.created_at,
        started_at=row.started_at,
        finished_at=row.finished_at,
        updated_at=row.updated_at,
    )


class ImportJobRepository:
    """Job rows and ledger pages inside the caller's transaction."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def add(
        self,
        job_id: uuid.UUID,
        *,
        format: FeedFormat,
        file_name: str | None,
        object_key: str,
        file_bytes: int,
        file_sha256: str,
        submitted_by: str,
        traceparent: str | None = None,
    ) -> ImportJob:
        row = self.session.execute(
            insert(import_jobs)
            .values(
                id=job_id,
                state=JobState.PENDING,
                mode=JobMode.IMPORT,
                format=format,
                file_name=file_name,
                object_key=object_key,
                file_bytes=file_bytes,
                file_sha256=file_sha256,
                submitted_by=submitted_by,
                traceparent=traceparent,
            )
            .returning(import_jobs)
        ).one()
        return job_from_row(row)

    def get(self, job_id: uuid.UUID, *, for_update: bool = False) -> ImportJob | None:
        query = select(import_jobs).where(import_jobs.c.id == job_id)
        if for_update:
            query = query.with_for_update()
        row = self.session.execute(query).one_or_none()
        return None if row is None else job_from_row(row)

    def page(
        self, *, state: JobState | None, before: uuid.UUID | None, limit: int, submitted_by: str | None = None
    ) -> list[ImportJob]:
        """Newest first (ids are time-ordered UUIDv7), starting before the cursor's id; only `submitted_by`'s if
        given."""
        query = select(import_jobs).order_by(import_jobs.c.id.desc()).limit(limit)
        if state is not None:
            query = query.where(import_jobs.c.state == state)
        if submitted_by is not None:
            query = query.where(import_jobs.c.submitted_by == submitted_by)
        if before is not None:
            query = query.where(import_jobs.c.id < before)
        return [job_from_row(row) for row in self.session.execute(query)]

    def rows(
        self, job_id: uuid.UUID, *, statuses: Sequence[RowStatus] | None, after: int, limit: int
    ) -> list[dict[str, Any]]:
        """Ledger entries in row order, starting after row `after`."""
        query = (
            select(import_rows)
            .where(import_rows.c.job_id == job_id, import_rows.c.row_number > after)
            .order_by(import_rows.c.row_number)
            .limit(limit)
        )
        if statuses is not None:
            query = query.where(import_rows.c.status.in_([str(s) for s in statuses]))
        return [_row_view(row) for row in self.session.execute(query)]

    def update(self, job_id: uuid.UUID, **values: Any) -> ImportJob:
        row = self.session.execute(
            update(import_jobs)
            .where(import_jobs.c.id == job_id)
            .values(**values, updated_at=func.now())
            .returning(import_jobs)
        ).one()
        return job_from_row(row)


def _row_view(row: Row[Any]) -> dict[str, Any]:
    return {
        "row": row.row_number,
        "line": row.line_number,
        "sku": row.sku,
        "product_sku": row.product_sku,
        "status": row.status,
        "succeeded": row.status in SUCCEEDED,
        "category": row.category,
        "field": row.field,
        "message": row.message,
        "errors": row.errors or [],
        "attempts": row.attempts,
        "product_id": str(row.product_id) if row.product_id else None,
    }
