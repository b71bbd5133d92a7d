"""Keeping a search API process's overlay of fresh products: what the index has not caught up with yet.

The indexer announces the products of interactive batches when their transaction commits. This loop, a thread of
the search API process, reads those products' rows straight from the read model and hands them to the overlay,
which answers for them beside the index until the index's commit has passed their change numbers. While products
are held it reads them again every `recheck_s` (a later bulk change of one shows too) and drops those the index
has caught up with. Announcements are lost while the session is down (a database restart, a search API starting):
their products then simply wait for the index's follower, as all products did before; nothing else depends on them.
"""

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from catalog_indexer.adapters.read_model import FreshRow
from catalog_indexer.adapters.search_index import FreshEntry

log = logging.getLogger("catalog_indexer.fresh_products")


class Announcements(Protocol):
    def wait(self, timeout_s: float) -> list[str]: ...

    def close(self) -> None: ...


class FreshRows(Protocol):
    def fresh_rows(self, product_ids: Sequence[str]) -> list[FreshRow]: ...


class Overlay(Protocol):
    def ids(self) -> list[str]: ...

    def replace(self, entries: Mapping[str, FreshEntry], position: int) -> None: ...


@dataclass
class FreshProducts:
    announcements: Announcements
    rows: FreshRows
    overlay: Overlay
    position: Callable[[], int]  # the index's committed position, as the search API has it loaded
    recheck_s: float = 0.2

    def step(self, timeout_s: float) -> None:
        """Wait for announcements (less long while products are held), then read every held product again."""
        held = self.overlay.ids()
        announced = self.announcements.wait(min(timeout_s, self.recheck_s) if held else timeout_s)
        wanted = sorted({*announced, *held})
        if not wanted:
            return
        # The position first: rows read after it are at least as new, so none is dropped that the index lacks.
        position = self._position()
        rows = self.rows.fresh_rows(wanted)
        self.overlay.replace({r.product_id: FreshEntry(r.change, r.product) for r in rows}, position)

    def _position(self) -> int:
        try:
            return self.position()
        except Exception:  # no index yet: hold everything (searches are not answered before there is one)
            return 0

    def run(self, stop: threading.Event, timeout_s: float = 1.0, retry_s: float = 1.0) -> None:
        """Until `stop` is set; outages are waited out (the overlay keeps what it holds, searches filter it by the
        index's position, so nothing it holds is ever shown after the index has it)."""
        while not stop.is_set():
            try:
                self.step(timeout_s)
            except Exception as exc:
                log.warning("fresh products not followed", extra={"error": f"{type(exc).__name__}: {exc}"[:300]})
                self.announcements.close()
                stop.wait(retry_s)
        self.announcements.close()
