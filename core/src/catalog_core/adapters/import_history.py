"""What operators and live views read of import jobs beyond one page: the jobs' state transitions (written by a
trigger of migration 0005, whoever changes the state), a search over jobs by id, file name or SKU, and the ledger
as a stream (a million-row ledger is read a batch at a time, never held whole)."""

import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Column, DateTime, Integer, MetaData, Table, Text, func, or_, select
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from catalog_core.adapters.imports import _row_view, import_jobs, import_rows, job_from_row
from catalog_core.domain.imports import ImportJob, JobMode, JobState, RowStatus

metadata = MetaData()

import_job_transitions = Table(
    "import_job_transitions",
    metadata,
    Column("id", BigInteger, primary_key=True),
    Column("job_id", UUID(as_uuid=True), nullable=False),
    Column("state", Text, nullable=False),
    Column("mode", Text, nullable=False),
    Column("retries", Integer, nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
)


@dataclass(frozen=True)
class Transition:
    """A state the job entered: `id` grows with every transition of every job (a resume point)."""

    id: int
    state: JobState
    mode: str
    retries: int
    at: datetime

    def view(self) -> dict[str, Any]:
        return {"state": self.state, "mode": self.mode, "retries": self.retries, "at": self.at.isoformat()}


def transitions(session: Session, job_id: uuid.UUID, after: int = 0) -> list[Transition]:
    """The job's transitions after `after`, oldest first (an index range read)."""
    query = (
        select(import_job_transitions)
        .where(import_job_transitions.c.job_id == job_id, import_job_transitions.c.id > after)
        .order_by(import_job_transitions.c.id)
    )
    return [Transition(row.id, JobState(row.state), row.mode, row.retries, row.at) for row in session.execute(query)]


def search_jobs(
    session: Session,
    *,
    text: str | None,
    states: Sequence[JobState] | None,
    before: uuid.UUID | None,
    limit: int,
    submitted_by: str | None = None,
    mode: JobMode | None = None,
) -> list[ImportJob]:
    """Jobs newest first (keyset on the time-ordered id), matching `text` as a job id, part of a file name or a
    SKU in the job's ledger (through the `lower(sku)` index)."""
    query = select(import_jobs).order_by(import_jobs.c.id.desc()).limit(limit)
    if states:
        query = query.where(import_jobs.c.state.in_([str(s) for s in states]))
    if submitted_by is not None:
        query = query.where(import_jobs.c.submitted_by == submitted_by)
    if mode is not None:
        query = query.where(import_jobs.c.mode == str(mode))
    if before is not None:
        query = query.where(import_jobs.c.id < before)
    if text:
        needle = text.strip()
        escaped = needle.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        matches: list[ColumnElement[bool]] = [
            import_jobs.c.file_name.ilike(f"%{escaped}%", escape="\\"),
            # Uncorrelated: read once through the `lower(sku)` index and hashed, not probed per job.
            import_jobs.c.id.in_(select(import_rows.c.job_id).where(func.lower(import_rows.c.sku) == needle.lower())),
        ]
        job_id = _uuid(needle)
        if job_id is not None:
            matches.append(import_jobs.c.id == job_id)
        query = query.where(or_(*matches))
    return [job_from_row(row) for row in session.execute(query)]


def ledger_row(session: Session, job_id: uuid.UUID, row_number: int) -> dict[str, Any] | None:
    row = session.execute(
        select(import_rows).where(import_rows.c.job_id == job_id, import_rows.c.row_number == row_number)
    ).one_or_none()
    return None if row is None else _row_view(row)


def stream_ledger(
    session: Session, job_id: uuid.UUID, statuses: Sequence[RowStatus] | None, batch: int = 2000
) -> Iterator[dict[str, Any]]:
    """Every ledger entry of the job in row order, fetched `batch` rows at a time through a server-side cursor."""
    query = (
        select(import_rows)
        .where(import_rows.c.job_id == job_id)
        .order_by(import_rows.c.row_number)
        .execution_options(yield_per=batch)
    )
    if statuses is not None:
        query = query.where(import_rows.c.status.in_([str(s) for s in statuses]))
    for row in session.execute(query):
        yield _row_view(row)


def _uuid(text: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(text)
    except ValueError:
        return None
