"""Recurring jobs, run once per due time across every instance of the service that owns them."""

import asyncio
import enum
import logging
import os
import socket
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

from catalog_core.adapters.schedules import ScheduleClaim
from catalog_core.domain.schedules import InvalidSchedule, next_run

log = logging.getLogger("catalog_core.scheduler")


class RunResult(enum.StrEnum):
    OK = "ok"
    SKIPPED = "skipped"  # nothing to do this time (e.g. a feed that did not change)
    FAILED = "failed"


@dataclass(frozen=True)
class Outcome:
    result: RunResult
    detail: str = ""


ScheduledJob = Callable[[], Awaitable[Outcome]]


class Schedules(Protocol):
    def ensure(self, name: str, owner: str, cron: str, next_run_at: datetime) -> None: ...

    def due(self, owner: str) -> list[str]: ...

    def claim(self, name: str, instance: str, lease_s: float) -> ScheduleClaim | None: ...

    def finish(self, name: str, instance: str, result: str, detail: str, next_run_at: datetime) -> None: ...


def instance_id() -> str:
    """This process among the service's instances (host, pid and a random part, for logs and the lease)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


@dataclass
class Scheduler:
    """Each tick runs this owner's due jobs that this instance could claim; the next run is computed from the cron
    after the run ends (a missed run is run once, not caught up run by run)."""

    store: Schedules
    owner: str
    jobs: Mapping[str, ScheduledJob]
    lease_s: float = 600.0  # longer than any run: a run that outlives it may be started again elsewhere
    instance: str = field(default_factory=instance_id)
    observe: Callable[[str, Outcome], None] = lambda name, outcome: None
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)

    def register(self, crons: Mapping[str, str]) -> None:
        """Make sure every job has its schedule row (an existing row keeps what operators set)."""
        for name, cron in crons.items():
            self.store.ensure(name, self.owner, cron, next_run(cron, self.clock()))

    async def tick(self) -> list[tuple[str, Outcome]]:
        """Run the due jobs this instance claims; returns what ran and how it ended."""
        ran: list[tuple[str, Outcome]] = []
        for name in await asyncio.to_thread(self.store.due, self.owner):
            job = self.jobs.get(name)
            if job is None:
                continue  # another version of the service knows it
            claim = await asyncio.to_thread(self.store.claim, name, self.instance, self.lease_s)
            if claim is None:
                continue  # another instance runs it
            try:
                outcome = await job()
            except Exception as exc:  # a failed run is recorded and retried at the next due time
                log.exception("scheduled job failed", extra={"schedule": name})
                outcome = Outcome(RunResult.FAILED, repr(exc))
            try:
                upcoming = next_run(claim.cron, self.clock())
            except InvalidSchedule as exc:
                outcome = Outcome(RunResult.FAILED, str(exc))
                upcoming = self.clock().replace(year=self.clock().year + 100)  # parked until the cron is fixed
            await asyncio.to_thread(
                self.store.finish, name, self.instance, outcome.result.value, outcome.detail, upcoming
            )
            log.info(
                "scheduled job ran",
                extra={
                    "schedule": name,
                    "result": outcome.result.value,
                    "detail": outcome.detail,
                    "next": str(upcoming),
                },
            )
            self.observe(name, outcome)
            ran.append((name, outcome))
        return ran
