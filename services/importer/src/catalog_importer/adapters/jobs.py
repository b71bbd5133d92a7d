"""Claiming, heartbeating and finishing import jobs.

A claim is one UPDATE that only matches a claimable job (pending, or running with a stale heartbeat), so two
importers never both win. It writes a fresh `claim_token`; every later write of the runner — progress, finish —
matches on that token, so a runner that was presumed dead and replaced can no longer change the job (fencing).
"""

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import ColumnElement, and_, func, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from catalog_core.adapters.imports import import_jobs, job_from_row
from catalog_core.domain.imports import FINISHED, ImportJob, JobMode, JobState, final_state
from catalog_importer.domain.feed import Position
from catalog_importer.domain.outcomes import outcome_event
from catalog_importer.domain.tally import Tally
from catalog_kit.outbox import OutboxWriter

MAX_ERROR_TEXT = 2000


class LostClaim(Exception):
    """Another worker took the job over (or it was finished); this runner must stop without writing."""


@dataclass(frozen=True)
class Claim:
    job: ImportJob
    token: uuid.UUID
    worker: str


@dataclass(frozen=True)
class ClaimRules:
    worker: str
    stale_after: timedelta
    max_attempts: int


Announce = Callable[[Session, ImportJob], None]


class OutcomeAnnouncer:
    """Writes a finished job's `import.completed` / `import.failed` into the transaction that finished it."""

    def __init__(self, outbox: OutboxWriter, public_base_url: str) -> None:
        self.outbox = outbox
        self.public_base_url = public_base_url

    def __call__(self, session: Session, job: ImportJob) -> None:
        event = outcome_event(job, self.public_base_url)
        if event is not None:
            event_type, data = event
            self.outbox.add(
                session, event_type=event_type, aggregate_type="import_job", aggregate_id=str(job.id), data=data
            )


class JobClaims:
    """The job-row side of running jobs; each method is its own short transaction unless given a session."""

    def __init__(self, sessions: sessionmaker[Session], rules: ClaimRules, announce: Announce | None = None) -> None:
        self.sessions = sessions
        self.rules = rules
        # A job's final state and its announcement commit together: neither is ever seen without the other.
        self.announce = announce

    def _claimable(self) -> ColumnElement[bool]:
        stale = func.now() - self.rules.stale_after
        return and_(
            import_jobs.c.attempts < self.rules.max_attempts,
            or_(
                and_(
                    import_jobs.c.state == JobState.PENDING,
                    or_(import_jobs.c.not_before.is_(None), import_jobs.c.not_before <= func.now()),
                ),
                and_(
                    import_jobs.c.state == JobState.PROCESSING,
                    import_jobs.c.heartbeat_at < stale,
                    import_jobs.c.cancel_requested.is_(False),
                ),
            ),
        )

    def claim(self, job_id: uuid.UUID) -> Claim | None:
        """Take this job if it is claimable; None if it is not (running elsewhere, finished, unknown)."""
        return self._claim(import_jobs.c.id == job_id)

    def claim_next(self) -> Claim | None:
        """Take the oldest claimable job, skipping rows another importer is claiming right now."""
        oldest = (
            select(import_jobs.c.id)
            .where(self._claimable())
            .order_by(import_jobs.c.id)
            .limit(1)
            .with_for_update(skip_locked=True)
            .scalar_subquery()
        )
        return self._claim(import_jobs.c.id == oldest)

    def _claim(self, which: ColumnElement[bool]) -> Claim | None:
        token = uuid.uuid4()
        with self.sessions() as session, session.begin():
            row = session.execute(
                update(import_jobs)
                .where(which, self._claimable())  # re-checked on the locked row: exactly one claimer wins
                .values(
                    state=JobState.PROCESSING,
                    claimed_by=self.rules.worker,
                    claim_token=token,
                    heartbeat_at=func.now(),
                    not_before=None,
                    attempts=import_jobs.c.attempts + 1,
                    started_at=func.coalesce(import_jobs.c.started_at, func.now()),
                    updated_at=func.now(),
                )
                .returning(import_jobs)
            ).one_or_none()
        return None if row is None else Claim(job_from_row(row), token, self.rules.worker)

    def heartbeat(self, claim: Claim) -> bool:
        """Tell the watchdogs the runner is alive; False if the job is no longer this runner's."""
        with self.sessions() as session, session.begin():
            found = session.execute(
                update(import_jobs).where(*_owned(claim)).values(heartbeat_at=func.now()).returning(import_jobs.c.id)
            ).first()
        return found is not None

    def record_progress(self, session: Session, claim: Claim, end: Position, tally: Tally, run_rows: int) -> bool:
        """In the chunk's transaction: where to resume and the counts; True if a cancel was requested."""
        cancel = session.execute(
            update(import_jobs)
            .where(*_owned(claim))
            .values(
                bytes_done=end.offset,
                next_row=end.row,
                next_line=end.line,
                run_rows=run_rows,
                rows_processed=tally.processed,
                rows_created=tally.created,
                rows_updated=tally.updated,
                rows_unchanged=tally.unchanged,
                rows_failed=tally.failed,
                rows_skipped=tally.skipped,
                error_counts=dict(tally.errors),
                heartbeat_at=func.now(),
                updated_at=func.now(),
            )
            .returning(import_jobs.c.cancel_requested)
        ).scalar_one_or_none()
        if cancel is None:
            raise LostClaim(str(claim.job.id))
        return bool(cancel)

    def finish(self, claim: Claim, tally: Tally) -> ImportJob:
        """The feed was read to its end: COMPLETED, or COMPLETED_WITH_ERRORS when rows failed."""
        values: dict[str, object] = {"state": final_state(tally.failed)}
        if claim.job.mode is JobMode.IMPORT:
            values["rows_total"] = tally.processed
        return self._end(claim, **values)

    def cancelled(self, claim: Claim) -> ImportJob:
        return self._end(claim, state=JobState.CANCELLED)

    def fail(self, claim: Claim, reason: str) -> ImportJob:
        """The feed cannot be imported. A retry whose corrected feed cannot be read leaves the job as it was."""
        if claim.job.mode is JobMode.RETRY:
            return self._end(claim, state=JobState.COMPLETED_WITH_ERRORS, error=f"retry not run: {reason}")
        return self._end(claim, state=JobState.FAILED, error=reason[:MAX_ERROR_TEXT])

    def hand_back(self, claim: Claim, error: str | None, retry_in: timedelta) -> None:
        """Give the job up unfinished (stopping, or an error): it goes back to PENDING for any importer.

        A graceful stop (no error) does not use up one of the job's attempts.
        """
        with self.sessions() as session, session.begin():
            session.execute(
                update(import_jobs)
                .where(*_owned(claim))
                .values(
                    state=JobState.PENDING,
                    claimed_by=None,
                    claim_token=None,
                    heartbeat_at=None,
                    not_before=func.now() + retry_in,
                    attempts=import_jobs.c.attempts - (0 if error else 1),
                    last_error=error[:MAX_ERROR_TEXT] if error else import_jobs.c.last_error,
                    updated_at=func.now(),
                )
            )

    def give_up_exhausted(self) -> list[uuid.UUID]:
        """FAIL jobs that used all their attempts and are not running (their worker died or kept failing)."""
        stale = func.now() - self.rules.stale_after
        with self.sessions() as session, session.begin():
            rows = session.execute(
                update(import_jobs)
                .where(
                    import_jobs.c.attempts >= self.rules.max_attempts,
                    or_(
                        import_jobs.c.state == JobState.PENDING,
                        and_(import_jobs.c.state == JobState.PROCESSING, import_jobs.c.heartbeat_at < stale),
                    ),
                )
                .values(
                    state=JobState.FAILED,
                    # `error` is shown to the job's submitter; the cause (`last_error`: an exception's text, which may
                    # name hosts) stays for operators.
                    error=f"gave up after {self.rules.max_attempts} attempts",
                    last_error=func.coalesce(import_jobs.c.last_error, "the worker stopped sending heartbeats"),
                    claimed_by=None,
                    claim_token=None,
                    finished_at=func.now(),
                    updated_at=func.now(),
                )
                .returning(import_jobs)
            ).all()
            for row in rows:
                self._announce(session, job_from_row(row))
            return [row.id for row in rows]

    def cancel_abandoned(self) -> list[uuid.UUID]:
        """Finish as CANCELLED the jobs whose cancel was requested and whose worker died before seeing it."""
        stale = func.now() - self.rules.stale_after
        with self.sessions() as session, session.begin():
            ids = session.execute(
                update(import_jobs)
                .where(
                    import_jobs.c.state == JobState.PROCESSING,
                    import_jobs.c.cancel_requested.is_(True),
                    import_jobs.c.heartbeat_at < stale,
                )
                .values(
                    state=JobState.CANCELLED,
                    claimed_by=None,
                    claim_token=None,
                    finished_at=func.now(),
                    updated_at=func.now(),
                )
                .returning(import_jobs.c.id)
            ).scalars()
            return list(ids)

    def _end(self, claim: Claim, **values: object) -> ImportJob:
        assert values["state"] in FINISHED
        with self.sessions() as session, session.begin():
            row = session.execute(
                update(import_jobs)
                .where(*_owned(claim))
                .values(
                    **values,
                    claim_token=None,  # claimed_by stays: which worker ran the job last
                    finished_at=func.now(),
                    updated_at=func.now(),
                )
                .returning(import_jobs)
            ).one_or_none()
            if row is None:
                raise LostClaim(str(claim.job.id))
            job = job_from_row(row)
            self._announce(session, job)
        return job

    def _announce(self, session: Session, job: ImportJob) -> None:
        if self.announce is not None:
            self.announce(session, job)


def _owned(claim: Claim) -> tuple[ColumnElement[bool], ...]:
    return (
        import_jobs.c.id == claim.job.id,
        import_jobs.c.claim_token == claim.token,
        import_jobs.c.state == JobState.PROCESSING,
    )
