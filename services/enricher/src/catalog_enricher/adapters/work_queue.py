"""Enrichment work waiting in the catalog database (`enrichment_queue`, owned by the enricher): queued by priority,
claimed with a lease by any number of enricher processes, parked above the bound, failed with a reason."""

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from catalog_enricher.domain.priorities import Priority

# One row per product: a product asked for again while queued keeps its place and takes the more urgent priority;
# `requests` counts the asks, so that finishing a claim never deletes an ask that came in meanwhile. Work for a
# product that is gone by now is dropped (the row would die with the product anyway). Failed work is tried again
# when the product changes or is refreshed, not because someone looked at it (critical): views of a product that
# cannot be enriched would otherwise retry it every minute.
_ENQUEUE = text("""
INSERT INTO enrichment_queue AS q (product_id, priority, state, reason, traceparent)
SELECT r.product_id, r.priority, r.state, r.reason, r.traceparent
FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS r(
    product_id uuid, priority smallint, state text, reason text, traceparent text)
WHERE EXISTS (SELECT 1 FROM products p WHERE p.id = r.product_id)
ORDER BY r.product_id
ON CONFLICT (product_id) DO UPDATE SET
    reason = CASE WHEN EXCLUDED.priority < q.priority THEN EXCLUDED.reason ELSE q.reason END,
    priority = least(q.priority, EXCLUDED.priority),
    traceparent = coalesce(EXCLUDED.traceparent, q.traceparent),
    requests = q.requests + 1,
    state = CASE WHEN q.state = 'parked' AND EXCLUDED.state = 'parked' THEN 'parked' ELSE 'queued' END,
    attempts = CASE WHEN q.state = 'failed' THEN 0 ELSE q.attempts END,
    last_error = CASE WHEN q.state = 'failed' THEN NULL ELSE q.last_error END,
    available_at = CASE WHEN q.state = 'failed' THEN now() ELSE q.available_at END
WHERE NOT (q.state = 'failed' AND EXCLUDED.priority = 0)
""")

# The highest non-empty priority first, oldest first within it. SKIP LOCKED: claimers never wait for each other;
# the lease (available_at) hands the rows of a worker that died to the next claimer once it runs out.
_CLAIM = text("""
WITH next AS (
    SELECT product_id FROM enrichment_queue
    WHERE state = 'queued' AND available_at <= now()
    ORDER BY priority, enqueued_at, product_id
    LIMIT :limit FOR UPDATE SKIP LOCKED
)
UPDATE enrichment_queue q
SET available_at = now() + make_interval(secs => :lease_s), attempts = q.attempts + 1
FROM next WHERE q.product_id = next.product_id
RETURNING q.product_id::text AS product_id, q.priority, q.requests, q.attempts, q.reason, q.traceparent,
          q.enqueued_at
""")

# Finished work leaves the queue unless it was asked for again while it was being done; such work is claimable
# again at once.
_DONE = text("""
DELETE FROM enrichment_queue q USING jsonb_to_recordset(CAST(:rows AS jsonb)) AS r(product_id uuid, requests bigint)
WHERE q.product_id = r.product_id AND q.requests = r.requests
""")
_RELEASE = text("""
UPDATE enrichment_queue SET available_at = now()
WHERE product_id = ANY(CAST(:ids AS uuid[])) AND state = 'queued'
""")
_RETRY_LATER = text("""
UPDATE enrichment_queue SET available_at = now() + make_interval(secs => :after_s), last_error = :error
WHERE product_id = CAST(:id AS uuid) AND state = 'queued'
""")
_FAIL = text("""
UPDATE enrichment_queue SET state = 'failed', last_error = :error
WHERE product_id = CAST(:id AS uuid) AND requests = :requests
""")

_COUNTS = text("SELECT state, priority, count(*) AS n FROM enrichment_queue GROUP BY state, priority")

_RELEASE_PARKED = text("""
WITH next AS (
    SELECT product_id FROM enrichment_queue WHERE state = 'parked'
    ORDER BY enqueued_at, product_id LIMIT :limit FOR UPDATE SKIP LOCKED
)
UPDATE enrichment_queue q SET state = 'queued', available_at = now()
FROM next WHERE q.product_id = next.product_id
""")

# Low work found in the stored enrichments: degraded ones, and ones older than an age or made by older rules. Work
# already waiting for the product is left as it is.
_QUEUE_DEGRADED = text("""
INSERT INTO enrichment_queue (product_id, priority, state, reason)
SELECT e.product_id, 3, :state, 'degraded' FROM product_enrichment e
WHERE e.status = 'degraded' AND NOT EXISTS (SELECT 1 FROM enrichment_queue q WHERE q.product_id = e.product_id)
ORDER BY e.product_id LIMIT :limit
ON CONFLICT (product_id) DO NOTHING
""")
_QUEUE_STALE = text("""
INSERT INTO enrichment_queue (product_id, priority, state, reason)
SELECT e.product_id, 3, :state, CASE WHEN e.rules_version < :rules_version THEN 'rules' ELSE 'age' END
FROM product_enrichment e
WHERE (e.updated_at < now() - make_interval(secs => :older_than_s) OR e.rules_version < :rules_version)
  AND NOT EXISTS (SELECT 1 FROM enrichment_queue q WHERE q.product_id = e.product_id)
ORDER BY e.updated_at, e.product_id LIMIT :limit
ON CONFLICT (product_id) DO NOTHING
""")

_ONE_REFRESH = 0x72667368  # "rfsh": with several enrichers, one stale scan at a time


@dataclass(frozen=True)
class WorkRequest:
    """A product to enrich, how urgently and why."""

    product_id: str
    priority: Priority
    reason: str
    traceparent: str | None = None
    parked: bool = False


@dataclass(frozen=True)
class ClaimedWork:
    """A claimed queue row: enrich the product's current facts, then report it done."""

    product_id: str
    priority: Priority
    requests: int
    attempts: int
    reason: str
    traceparent: str | None
    enqueued_at: datetime


@dataclass(frozen=True)
class QueueCounts:
    """Queue rows by state: claimable (or claimed) work per priority, parked and failed work."""

    pending: dict[Priority, int] = field(default_factory=dict)
    parked: int = 0
    failed: int = 0

    @property
    def backlog(self) -> int:
        return sum(self.pending.values())


class EnrichmentQueue:
    def __init__(self, sessions: sessionmaker[Session], lease_s: float = 60.0) -> None:
        self.sessions = sessions
        self.lease_s = lease_s

    def enqueue_many(self, requests: Sequence[WorkRequest]) -> None:
        """Queue the requests (one per product; the most urgent of several wins) in one transaction."""
        if not requests:
            return
        urgent: dict[str, WorkRequest] = {}
        for request in requests:
            key = str(uuid.UUID(request.product_id))
            kept = urgent.get(key)
            if kept is None or request.priority < kept.priority:
                urgent[key] = request
        rows = [
            {
                "product_id": key,
                "priority": int(r.priority),
                "state": "parked" if r.parked else "queued",
                "reason": r.reason,
                "traceparent": r.traceparent,
            }
            for key, r in urgent.items()
        ]
        with self.sessions() as session, session.begin():
            session.execute(_ENQUEUE, {"rows": json.dumps(rows, separators=(",", ":"))})

    def claim(self, limit: int) -> list[ClaimedWork]:
        """Up to `limit` rows of the most urgent claimable work, leased to the caller, in the order to do them."""
        with self.sessions() as session, session.begin():
            rows = session.execute(_CLAIM, {"limit": limit, "lease_s": self.lease_s}).all()
        claimed = [
            ClaimedWork(
                row.product_id,
                Priority(row.priority),
                int(row.requests),
                int(row.attempts),
                row.reason,
                row.traceparent,
                row.enqueued_at,
            )
            for row in rows
        ]
        claimed.sort(key=lambda work: (work.priority, work.enqueued_at, work.product_id))
        return claimed

    def done(self, work: Sequence[ClaimedWork]) -> None:
        """Remove finished work; work asked for again meanwhile stays, claimable at once."""
        if not work:
            return
        rows = json.dumps([{"product_id": w.product_id, "requests": w.requests} for w in work])
        with self.sessions() as session, session.begin():
            session.execute(_DONE, {"rows": rows})
            session.execute(_RELEASE, {"ids": [w.product_id for w in work]})

    def retry_later(self, work: ClaimedWork, after_s: float, error: str) -> None:
        with self.sessions() as session, session.begin():
            session.execute(_RETRY_LATER, {"id": work.product_id, "after_s": after_s, "error": error[:500]})

    def fail(self, work: ClaimedWork, error: str) -> None:
        """Give up on the product until it changes (a new request queues it again)."""
        with self.sessions() as session, session.begin():
            session.execute(_FAIL, {"id": work.product_id, "requests": work.requests, "error": error[:500]})

    def counts(self) -> QueueCounts:
        with self.sessions() as session:
            rows = session.execute(_COUNTS).all()
        pending = {priority: 0 for priority in Priority}
        parked = failed = 0
        for row in rows:
            if row.state == "queued":
                pending[Priority(row.priority)] += int(row.n)
            elif row.state == "parked":
                parked += int(row.n)
            else:
                failed += int(row.n)
        return QueueCounts(pending, parked, failed)

    def release_parked(self, limit: int) -> int:
        """Make up to `limit` parked rows claimable, oldest first; returns how many."""
        if limit <= 0:
            return 0
        with self.sessions() as session, session.begin():
            return int(session.execute(_RELEASE_PARKED, {"limit": limit}).rowcount)  # type: ignore[attr-defined]

    def queue_degraded(self, limit: int, parked: bool) -> int:
        """Queue up to `limit` degraded enrichments at low priority; returns how many."""
        with self.sessions() as session, session.begin():
            result = session.execute(_QUEUE_DEGRADED, {"limit": limit, "state": "parked" if parked else "queued"})
            return int(result.rowcount)  # type: ignore[attr-defined]

    def queue_stale(self, older_than_s: float, rules_version: int, limit: int, parked: bool) -> int | None:
        """Queue up to `limit` enrichments older than `older_than_s` or made by rules older than `rules_version`, at
        low priority, oldest first; None when another enricher is doing the same scan now."""
        with self.sessions() as session, session.begin():
            if not session.execute(text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": _ONE_REFRESH}).scalar():
                return None
            result = session.execute(
                _QUEUE_STALE,
                {
                    "older_than_s": older_than_s,
                    "rules_version": rules_version,
                    "limit": limit,
                    "state": "parked" if parked else "queued",
                },
            )
            return int(result.rowcount)  # type: ignore[attr-defined]
