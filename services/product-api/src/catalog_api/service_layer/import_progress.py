"""What the live job stream and the ledger downloads read: a job and its new transitions in one snapshot, and the
ledger a batch at a time."""

import uuid
from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from catalog_core.adapters.import_history import Transition, stream_ledger, transitions
from catalog_core.adapters.imports import ImportJobRepository
from catalog_core.domain.imports import ImportJob, ImportJobNotFound, RowStatus


def job_snapshot(sessions: sessionmaker[Session], job_id: uuid.UUID, after: int) -> tuple[ImportJob, list[Transition]]:
    """The job row and its transitions after `after`, from one snapshot (so the counts never run ahead of the
    states sent): two index reads."""
    with sessions() as session:
        session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
        job = ImportJobRepository(session).get(job_id)
        if job is None:
            raise ImportJobNotFound(job_id)
        return job, transitions(session, job_id, after)


def ledger_entries(
    sessions: sessionmaker[Session], job_id: uuid.UUID, statuses: Sequence[RowStatus] | None
) -> Iterator[dict[str, Any]]:
    """The job's ledger in row order, in a session of its own that lives as long as the download."""
    with sessions() as session:
        yield from stream_ledger(session, job_id, statuses)


class StreamSlots:
    """At most `limit` live streams at once in this process (each holds a connection and polls the database)."""

    def __init__(self, limit: int) -> None:
        self.limit, self.open = limit, 0

    def take(self) -> bool:
        if self.open >= self.limit:
            return False
        self.open += 1
        return True

    def give_back(self) -> None:
        self.open -= 1
