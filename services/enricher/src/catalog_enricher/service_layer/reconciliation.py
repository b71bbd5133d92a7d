"""Reconciliation: a periodic, bounded pass that heals what a lost event left behind, with no operator."""

import asyncio
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

log = logging.getLogger("catalog_enricher")

START = uuid.UUID(int=0)


class Gaps(Protocol):
    def heal_behind(self, after: uuid.UUID, grace_s: float, limit: int) -> list[uuid.UUID]: ...

    def heal_unindexed_enrichments(self, after: uuid.UUID, grace_s: float, limit: int) -> list[uuid.UUID]: ...


@dataclass
class Reconciler:
    """Each tick heals one batch of each kind from where the last tick stopped, wrapping round at the end."""

    gaps: Gaps
    grace_s: float
    batch: int
    cursors: dict[str, uuid.UUID] = field(default_factory=lambda: {"behind": START, "enrichment": START})
    healed: int = 0
    # While a bulk backlog is being worked off, what looks behind is mostly still queued: re-announcing it would
    # only add to the backlog. The tick waits for the backlog to go.
    busy: Callable[[], bool] = lambda: False

    async def tick(self) -> int:
        """One bounded step; returns how many products were announced again (none while `busy()`)."""
        if self.busy():
            log.info("reconciliation waits: the bulk lane has a backlog")
            return 0
        healed = 0
        for kind, heal in (("behind", self.gaps.heal_behind), ("enrichment", self.gaps.heal_unindexed_enrichments)):
            ids = await asyncio.to_thread(heal, self.cursors[kind], self.grace_s, self.batch)
            # A short batch means the scan reached the end: the next tick starts again from the first id.
            self.cursors[kind] = ids[-1] if len(ids) == self.batch else START
            if ids:
                log.warning(
                    "reconciliation re-announced products a lost event left behind",
                    extra={"kind": kind, "products": len(ids), "first_product_id": str(ids[0])},
                )
            healed += len(ids)
        self.healed += healed
        return healed
