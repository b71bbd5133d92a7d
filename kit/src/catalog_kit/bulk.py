"""Many rows in one statement: `INSERT … SELECT … FROM jsonb_to_recordset(:rows) AS r(col type, …)`.

Bulk writers (the importer's chunks: products, variants, SKUs, outbox events, ledger rows) send a thousand rows
as one JSON document, encoded by the C JSON encoder and decoded by PostgreSQL. The statement's text does not
depend on the row count, so it is compiled and parsed once; `executemany` instead costs tens of microseconds of
Python per row and statement, and array parameters pay a regular expression per element to escape JSON text.
"""

import json
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Select, Table, bindparam, cast, column, func, select
from sqlalchemy.dialects.postgresql import JSONB
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
