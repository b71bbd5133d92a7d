"""Whether the relay is doing its job: readiness that a stuck relay cannot fake by merely being alive."""

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from catalog_schemas import Lane


@dataclass
class RelayHealth:
    """What the relay loop reports as it goes; read by the health endpoint's thread (plain attribute reads)."""

    stall_after_s: float
    role: str = "starting"  # starting | leader | standby
    problem: str | None = None  # an outage the relay is waiting out
    backlog: int = 0
    oldest_unpublished_s: float = 0.0
    published_total: int = 0
    last_progress: float = field(default_factory=time.monotonic)

    def leading(self) -> None:
        self.role, self.problem = "leader", None
        self.last_progress = time.monotonic()

    def standing_by(self) -> None:
        self.role, self.problem = "standby", None

    def backlog_sampled(self, by_lane: Mapping[Lane, tuple[int, float]]) -> None:
        """The backlog per lane (rows, oldest age in seconds) as just read from the outbox."""
        self.backlog = sum(rows for rows, _ in by_lane.values())
        self.oldest_unpublished_s = max((age for _, age in by_lane.values()), default=0.0)

    def published(self, rows: int) -> None:
        self.published_total += rows
        self.last_progress = time.monotonic()

    def problems(self, now: float | None = None) -> list[str]:
        now = time.monotonic() if now is None else now
        problems = [self.problem] if self.problem else []
        if self.role == "starting":
            problems.append("not yet connected to the database")
        idle_s = now - self.last_progress
        if self.role == "leader" and self.backlog > 0 and idle_s > self.stall_after_s:
            problems.append(f"stalled: {self.backlog} events wait and none was published for {idle_s:.0f}s")
        return problems

    def report(self) -> dict[str, Any]:
        problems = self.problems()
        return {
            "ready": not problems,
            "problems": problems,
            "role": self.role,
            "backlog": self.backlog,
            "oldest_unpublished_s": round(self.oldest_unpublished_s, 1),
            "published_total": self.published_total,
        }
