"""Schedules in the catalog database: registered by the service that runs them, claimed for one run at a time
across every instance (a lease on the row), finished with their result and next run."""

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

# Registered once; an operator's later change of the cron or `enabled` in the table is kept.
_ENSURE = text("""
INSERT INTO schedules (name, owner, cron, next_run_at) VALUES (:name, :owner, :cron, :next_run_at)
ON CONFLICT (name) DO NOTHING
""")

_DUE = text("""
SELECT name, cron FROM schedules
WHERE owner = :owner AND enabled AND next_run_at <= now() AND (running_until IS NULL OR running_until < now())
ORDER BY next_run_at
""")

# The one statement that decides who runs: the row lock makes a second instance's UPDATE wait, and the re-checked
# WHERE then finds the lease taken. A lease that ran out (its instance died) can be taken over.
_CLAIM = text("""
UPDATE schedules SET running_until = now() + make_interval(secs => :lease_s), running_by = :instance,
                     last_started_at = now()
WHERE name = :name AND enabled AND next_run_at <= now() AND (running_until IS NULL OR running_until < now())
RETURNING name, cron, now() AS started_at
""")

_FINISH = text("""
UPDATE schedules SET running_until = NULL, running_by = NULL, next_run_at = :next_run_at, last_finished_at = now(),
                     last_result = :result, last_detail = :detail, runs = runs + 1
WHERE name = :name AND running_by = :instance
""")

_ALL = text("""
SELECT name, owner, cron, enabled, next_run_at, running_until, running_by, last_started_at, last_finished_at,
       last_result, last_detail, runs
FROM schedules ORDER BY owner, name
""")


@dataclass(frozen=True)
class ScheduleClaim:
    name: str
    cron: str
    started_at: datetime


@dataclass(frozen=True)
class ScheduleView:
    """A schedule as the console shows it."""

    name: str
    owner: str
    cron: str
    enabled: bool
    next_run_at: datetime
    running_until: datetime | None
    running_by: str | None
    last_started_at: datetime | None
    last_finished_at: datetime | None
    last_result: str | None
    last_detail: str | None
    runs: int


class ScheduleStore:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions

    def ensure(self, name: str, owner: str, cron: str, next_run_at: datetime) -> None:
        with self.sessions() as session, session.begin():
            session.execute(_ENSURE, {"name": name, "owner": owner, "cron": cron, "next_run_at": next_run_at})

    def due(self, owner: str) -> list[str]:
        with self.sessions() as session:
            return [row.name for row in session.execute(_DUE, {"owner": owner})]

    def claim(self, name: str, instance: str, lease_s: float) -> ScheduleClaim | None:
        """The schedule's run for this instance, or None: not due, or another instance holds it."""
        with self.sessions() as session, session.begin():
            row = session.execute(_CLAIM, {"name": name, "instance": instance, "lease_s": lease_s}).one_or_none()
        return ScheduleClaim(row.name, row.cron, row.started_at) if row else None

    def finish(self, name: str, instance: str, result: str, detail: str, next_run_at: datetime) -> None:
        with self.sessions() as session, session.begin():
            session.execute(
                _FINISH,
                {
                    "name": name,
                    "instance": instance,
                    "result": result,
                    "detail": detail[:500],
                    "next_run_at": next_run_at,
                },
            )


def all_schedules(session: Session) -> list[ScheduleView]:
    """Every schedule, for reading (the console)."""
    return [ScheduleView(**row._asdict()) for row in session.execute(_ALL)]
