"""Many rows in one statement: `INSERT … SELECT … FROM jsonb_to_recordset(:rows) AS r(col type, …)`, or, for plain
inserts of many rows, `COPY … FROM STDIN` (`copy_rows`).

Bulk writers (the importer's chunks: products, variants, SKUs, outbox events, ledger rows) send a thousand rows
as one JSON document, encoded by the C JSON encoder and decoded by PostgreSQL. The statement's text does not
depend on the row count, so it is compiled and parsed once; `executemany` instead costs tens of microseconds of
Python per row and statement, and array parameters pay a regular expression per element to escape JSON text.
"""

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import psycopg
from psycopg import sql
from sqlalchemy import Select, Table, bindparam, cast, column, func, select
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session
from sqlalchemy.types import Text


def recordset(table: Table, rows: Sequence[Mapping[str, Any]]) -> tuple[Select[Any], list[str], dict[str, Any]]:
    """A SELECT yielding `rows` (all with the same keys, which are columns of `table`), its column names, and the
    parameters to execute it with, e.g. `insert(table).from_select(names, select)`.

    Values are JSON-encoded with `str` for what JSON lacks (UUID, Decimal, datetime), and read back with the
    columns' own types; JSON columns take their values as they are.
    """
    names = list(rows[0])
    source = (
        func.jsonb_to_recordset(cast(bindparam("recordset_rows", type_=Text), JSONB))
        .table_valued(*(column(name, table.c[name].type) for name in names))
        .render_derived(with_types=True)
    )
    params = {"recordset_rows": json.dumps(list(rows), default=str, separators=(",", ":"))}
    return select(*(source.c[name] for name in names)), names, params


def copy_rows(session: Session, table: Table, names: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """Insert `rows` (tuples in the order of `names`, columns of `table`) with `COPY … FROM STDIN`, inside the
    session's transaction.

    The fastest way into PostgreSQL: psycopg formats each row in C and the server parses no SQL and no JSON
    document. Values are Python values psycopg adapts (UUID, Decimal, datetime, int, str, None); a JSON column
    takes its value as JSON text. Only for plain inserts: no ON CONFLICT, no RETURNING. A database error is raised
    as SQLAlchemy's (IntegrityError, OperationalError, ...), as `session.execute` would raise it.
    """
    statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(table.name), sql.SQL(", ").join(sql.Identifier(name) for name in names)
    )
    driver: psycopg.Connection[Any] = session.connection().connection.driver_connection  # type: ignore[assignment]
    try:
        with driver.cursor() as cursor, cursor.copy(statement) as copy:
            for row in rows:
                copy.write_row(row)
    except psycopg.Error as exc:
        # A broken connection is an OperationalError; the pool's pre-ping replaces it on its next checkout.
        raise DBAPIError.instance(
            statement.as_string(driver), None, exc, psycopg.Error, connection_invalidated=driver.broken
        ) from exc
