"""Products someone is looking at while their enrichment is pending — found by a search, or viewed — reported to
the enricher as `enrichment.requested` (priority `critical`) through the outbox: gathered in memory and written at
most once per interval, in one transaction, after a response went out, so that no request waits for it."""

import logging
import threading
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime

from sqlalchemy.orm import Session

from catalog_kit.outbox import OutboxWriter, PendingEvent

log = logging.getLogger("catalog_kit.enrichment_requests")


class EnrichmentRequests:
    """At most `limit` products waiting to be reported; a product reported in the last `quiet_s` is not reported
    again (the enricher queues each product once anyway: this only spares the outbox). `reason` says what the
    attention was (`searched`, `viewed`)."""

    def __init__(
        self,
        sessions: Callable[[], Session],
        outbox: OutboxWriter,
        reason: str,
        *,
        every_s: float = 1.0,
        quiet_s: float = 60.0,
        limit: int = 1000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._sessions = sessions
        self._outbox = outbox
        self._reason = reason
        self._every_s = every_s
        self._quiet_s = quiet_s
        self._limit = limit
        self._clock = clock
        self._lock = threading.Lock()
        self._waiting: dict[str, None] = {}
        self._reported: dict[str, float] = {}
        self._last_flush = -every_s
        self._timer: threading.Timer | None = None

    def recently_reported(self, product_id: str) -> bool:
        """Whether `product_id` is waiting or was reported within `quiet_s` (a caller may skip checking it)."""
        with self._lock:
            return product_id in self._waiting or self._clock() - self._reported.get(product_id, -self._quiet_s) < (
                self._quiet_s
            )

    def note(self, product_ids: Iterable[str]) -> bool:
        """Remember products found pending; True when a flush is due now (the caller schedules `flush` after its
        response). When one is not due yet, a timer flushes once it is, so no report waits for the next caller."""
        now = self._clock()
        with self._lock:
            for product_id in product_ids:
                if len(self._waiting) >= self._limit:
                    break  # dropped, not lost: the next look at the product finds it pending again
                if now - self._reported.get(product_id, -self._quiet_s) >= self._quiet_s:
                    self._waiting[product_id] = None
            if not self._waiting:
                return False
            wait_s = self._last_flush + self._every_s - now
            if wait_s <= 0:
                return True
            if self._timer is None:
                self._timer = threading.Timer(wait_s, self._flush_later)
                self._timer.daemon = True
                self._timer.start()
            return False

    def _flush_later(self) -> None:
        with self._lock:
            self._timer = None
        try:
            self.flush()
        except Exception as exc:  # kept waiting: the next note or timer tries again
            log.warning("enrichment requests not written", extra={"error": f"{type(exc).__name__}: {exc}"[:300]})

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
                {
                    "product_id": product_id,
                    "priority": "critical",
                    "reason": self._reason,
                    "requested_at": requested_at,
                },
            )
            for product_id in waiting
        ]
        try:
            with self._sessions() as session, session.begin():
                self._outbox.add_many(session, events)
        except Exception:
            with self._lock:  # not reported after all: the next look that finds them pending tries again
                for product_id in waiting:
                    self._reported.pop(product_id, None)
            raise
        return len(events)
