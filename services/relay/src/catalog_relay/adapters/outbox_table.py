"""The outbox table as the relay sees it, over one psycopg session: the leader lock, LISTEN, reads and marks."""

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, NamedTuple

import psycopg

from catalog_kit.outbox import LANE_RANK, NOTIFY_CHANNEL
from catalog_relay.domain.leadership import SessionLost
from catalog_schemas import Lane

LEADER_LOCK = 0x72656C61  # "rela": one relay publishes at a time, the others stand by

# Selects by "not yet published", never "id above the last one seen": ids commit out of order, and a row
# whose transaction commits late must still be found. The interactive lane (0) comes first: a bulk backlog of a
# million rows never delays an API write. Bulk rows take what is left of the batch.
_FETCH = """
SELECT id, topic, aggregate_id, payload::text, headers, extract(epoch FROM clock_timestamp() - created_at)::float8
FROM outbox WHERE published_at IS NULL ORDER BY lane, id LIMIT %s
"""
_LANES = {rank: lane for lane, rank in LANE_RANK.items()}


class OutboxRow(NamedTuple):
    """An unpublished event: where it goes, its key (the aggregate), the envelope as JSON, its Kafka headers."""

    id: int
    topic: str
    aggregate_id: str
    payload: str
    headers: dict[str, str]
    # Seconds since the row's transaction when it was read, by the database's clock (no clock skew to the relay).
    age_s: float = 0.0


class OutboxSession:
    """One relay's database session (autocommit): each call is its own statement."""

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self._conn = conn

    def try_lead(self) -> bool:
        """Take the leader lock if no other session holds it; it is held until this session ends."""
        row = self._conn.execute("SELECT pg_try_advisory_lock(%s)", (LEADER_LOCK,)).fetchone()
        return bool(row and row[0])

    def listen(self) -> None:
        """Be told when writers add to the outbox."""
        self._conn.execute(f"LISTEN {NOTIFY_CHANNEL}")

    def wait_for_writes(self, timeout_s: float) -> None:
        """Return on a writer's NOTIFY, or after `timeout_s`. One that arrived earlier is kept in psycopg's backlog
        and ends the wait at once."""
        for _ in self._conn.notifies(timeout=timeout_s, stop_after=1):
            pass

    def unpublished(self, limit: int) -> list[OutboxRow]:
        """The first `limit` unpublished rows: the interactive lane's, then the bulk lane's, each in id order."""
        return [OutboxRow(*row) for row in self._conn.execute(_FETCH, (limit,)).fetchall()]

    def mark_published(self, ids: list[int]) -> int:
        """Mark rows published; the count says how many were still unpublished."""
        return self._conn.execute(
            "UPDATE outbox SET published_at = now() WHERE id = ANY(%s) AND published_at IS NULL", (ids,)
        ).rowcount

    def delete_published(self, older_than_s: float, limit: int) -> int:
        """Delete up to `limit` rows published more than `older_than_s` ago; returns how many."""
        return self._conn.execute(
            """DELETE FROM outbox WHERE id IN (
                   SELECT id FROM outbox WHERE published_at < now() - make_interval(secs => %s) LIMIT %s)""",
            (older_than_s, limit),
        ).rowcount

    def backlog(self) -> dict[Lane, tuple[int, float]]:
        """Per lane with rows waiting: how many, and the age in seconds of the oldest."""
        rows = self._conn.execute(
            """SELECT lane, count(*), extract(epoch FROM now() - min(created_at))::float8
               FROM outbox WHERE published_at IS NULL GROUP BY lane"""
        ).fetchall()
        return {_LANES.get(lane, Lane.BULK): (int(count), max(0.0, float(age))) for lane, count, age in rows}


class OutboxTable:
    """Opens the relay's database sessions."""

    def __init__(self, conninfo: str) -> None:
        self.conninfo = conninfo

    @contextmanager
    def session(self) -> Iterator[OutboxSession]:
        """A session named after this process (`catalog-relay-<pid>`); SessionLost when the connection fails."""
        try:
            with psycopg.connect(
                self.conninfo, autocommit=True, application_name=f"catalog-relay-{os.getpid()}"
            ) as conn:
                yield OutboxSession(conn)
        except psycopg.OperationalError as exc:
            raise SessionLost(str(exc)) from exc
