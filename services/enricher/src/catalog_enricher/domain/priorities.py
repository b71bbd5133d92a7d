"""Which enrichment work comes first, and what the enricher does with new work while its backlog is too long."""

import enum
from collections.abc import Mapping
from dataclasses import dataclass

from catalog_schemas import Lane


class Priority(enum.IntEnum):
    """Levels of enrichment work; a lower value is served first."""

    CRITICAL = 0  # searched for or viewed while pending: someone is looking at it now
    HIGH = 1  # an interactive create or update
    NORMAL = 2  # a bulk create or update (import rows, re-announcements)
    LOW = 3  # refreshes and backfills

    @property
    def label(self) -> str:
        return self.name.lower()


def priority_of_change(lane: Lane) -> Priority:
    """The priority of a product change by the lane it came in: interactive is high, bulk is normal."""
    return Priority.HIGH if lane is Lane.INTERACTIVE else Priority.NORMAL


def lane_of(priority: Priority) -> Lane:
    """The lane of the product.enriched a piece of work emits: someone waits for critical and high work."""
    return Lane.INTERACTIVE if priority <= Priority.HIGH else Lane.BULK


class Admission(enum.StrEnum):
    """What happens to new work of a priority given the backlog."""

    QUEUE = "queue"  # claimable at once
    PARK = "park"  # kept, not claimable until the backlog falls
    SLOW = "slow"  # queued after a pause, so that the broker holds the rest


@dataclass(frozen=True)
class Backpressure:
    """A bound on the claimable backlog: above it low work is parked and normal work slowed; critical and high work
    is never held back. Parked work is released once the backlog is below `resume_ratio` of the bound."""

    bound: int
    resume_ratio: float = 0.5

    def admit(self, priority: Priority, backlog: int) -> Admission:
        if backlog < self.bound or priority <= Priority.HIGH:
            return Admission.QUEUE
        return Admission.PARK if priority is Priority.LOW else Admission.SLOW

    def releasable(self, backlog: int, parked: int, batch: int) -> int:
        """How many parked items to release now: none above the resume mark, else up to the room left under the
        bound, at most `batch` (releasing must not itself push the backlog over the bound)."""
        if parked <= 0 or backlog >= self.bound * self.resume_ratio:
            return 0
        return max(0, min(parked, batch, self.bound - backlog))


def backlog_of(pending: Mapping[Priority, int]) -> int:
    """The claimable backlog: queued work of every priority (parked work is not counted)."""
    return sum(pending.values())
