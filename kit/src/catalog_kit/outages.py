"""Errors that mean the database is unreachable, not that a request or record is wrong.

Both runtimes ask this: the HTTP services answer `503` with `Retry-After` instead of `500`, and the stream
processors wait the outage out instead of dead-lettering the record they hold.
"""

from collections.abc import Iterator

import psycopg
import sqlalchemy.exc

DATABASE_OUTAGES: tuple[type[Exception], ...] = (
    sqlalchemy.exc.OperationalError,  # connection refused or lost, server shutting down, serialization failures
    sqlalchemy.exc.InterfaceError,
    sqlalchemy.exc.DisconnectionError,
    sqlalchemy.exc.TimeoutError,  # no pooled connection came free
    psycopg.OperationalError,
    psycopg.InterfaceError,
)


def causes(exc: BaseException) -> Iterator[BaseException]:
    """`exc` and what caused it, outermost first (adapters wrap driver errors)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def is_database_outage(exc: BaseException) -> bool:
    return any(isinstance(e, DATABASE_OUTAGES) for e in causes(exc))
