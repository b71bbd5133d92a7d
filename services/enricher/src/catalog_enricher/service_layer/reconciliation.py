"""Reconciliation: a periodic, bounded pass that heals what a lost event left behind, with no operator."""

import asyncio
import logging
import uuid
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

    async def tick(self) -> int:
        """One bounded step; returns how many products were announced again."""
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
