"""Products a search found while their enrichment was pending, reported to the enricher as `enrichment.requested`
(priority `critical`) through the outbox: gathered in memory, written once per interval in one transaction after a
response went out, so that searching never waits for it."""

import threading
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from catalog_kit.outbox import OutboxWriter, PendingEvent

SOURCE = "/catalog/search"


class PendingHits:
    """At most `limit` products waiting to be reported; a product reported in the last `quiet_s` is not reported
    again (the enricher queues each product once anyway: this only spares the outbox)."""

    def __init__(
        self,
        engine: Engine,
        outbox: OutboxWriter,
        *,
        every_s: float = 1.0,
        quiet_s: float = 60.0,
        limit: int = 1000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._engine = engine
        self._outbox = outbox
        self._every_s = every_s
        self._quiet_s = quiet_s
        self._limit = limit
        self._clock = clock
        self._lock = threading.Lock()
        self._waiting: dict[str, None] = {}
        self._reported: dict[str, float] = {}
        self._last_flush = 0.0

    def note(self, product_ids: Iterable[str]) -> bool:
        """Remember products found while pending; True when a flush is due (the caller schedules `flush`)."""
        now = self._clock()
        with self._lock:
            for product_id in product_ids:
                if len(self._waiting) >= self._limit:
                    break  # dropped, not lost: a later search finds the product pending again
                if now - self._reported.get(product_id, -self._quiet_s) >= self._quiet_s:
                    self._waiting[product_id] = None
            return bool(self._waiting) and now - self._last_flush >= self._every_s

    def flush(self) -> int:
        """Write the waiting reports (one transaction); returns how many."""
        now = self._clock()
        with self._lock:
            if not self._waiting or now - self._last_flush < self._every_s:
                return 0
            waiting, self._waiting, self._last_flush = list(self._waiting), {}, now
            if len(self._reported) > 10 * self._limit:  # bounded memory: forgetting only allows a repeat
                self._reported.clear()
            self._reported.update(dict.fromkeys(waiting, now))
        requested_at = datetime.now(UTC).isoformat()
        events = [
            PendingEvent(
                "enrichment.requested",
                "product",
                product_id,
                {"product_id": product_id, "priority": "critical", "reason": "searched", "requested_at": requested_at},
            )
            for product_id in waiting
        ]
        try:
            with Session(self._engine) as session, session.begin():
                self._outbox.add_many(session, events)
        except Exception:
            with self._lock:  # not reported after all: the next search that finds them pending tries again
                for product_id in waiting:
                    self._reported.pop(product_id, None)
            raise
        return len(events)
