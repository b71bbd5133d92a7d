"""The per-row ledger: what happened to every row of a job, written in the chunk's transaction."""

import json
import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Text, any_, bindparam, func, select
from sqlalchemy.dialects.postgresql import ARRAY, insert
from sqlalchemy.orm import Session

from catalog_core.adapters.imports import import_rows
from catalog_core.domain.imports import NEEDS_ATTENTION, ErrorCategory, RowStatus
from catalog_importer.domain.products import RowOutcome
from catalog_importer.domain.tally import Previous
from catalog_kit.bulk import copy_rows, recordset


class Ledger:
    def __init__(self, session: Session) -> None:
        self.session = session

    def write(self, job_id: uuid.UUID, outcomes: Sequence[RowOutcome], *, retry: bool) -> None:
        """Record the outcomes; in a retry they replace the rows' previous entries and count an attempt."""
        if not outcomes:
            return
        entries = [_entry(job_id, o) for o in outcomes]
        if not retry:  # new rows only: COPY, the cheapest insert
            copy_rows(self.session, import_rows, ENTRY_COLUMNS, (_copied(e) for e in entries))
            return
        rows, names, params = recordset(import_rows, entries)
        statement = insert(import_rows).from_select(names, rows)
        # Everything but the key (job_id, row_number) is replaced by the new attempt's outcome.
        replaced = {name: statement.excluded[name] for name in ENTRY_COLUMNS if name not in ("job_id", "row_number")}
        self.session.execute(
            statement.on_conflict_do_update(
                index_elements=[import_rows.c.job_id, import_rows.c.row_number],
                set_={**replaced, "attempts": import_rows.c.attempts + 1, "written_at": func.now()},
            ),
            params,
        )

    def defined_earlier(self, job_id: uuid.UUID, sku_keys: Iterable[str]) -> dict[str, int]:
        """Of these lower-cased product SKUs, those an earlier row of the job defined in full: SKU → row."""
        keys = sorted(set(sku_keys))
        if not keys:
            return {}
        query = (
            select(import_rows.c.defined_sku, func.min(import_rows.c.row_number))
            .where(
                import_rows.c.job_id == job_id,
                import_rows.c.defined_sku == any_(bindparam("keys", keys, ARRAY(Text))),
            )
            .group_by(import_rows.c.defined_sku)
        )
        return {str(key): int(row) for key, row in self.session.execute(query)}

    def retryable(self, job_id: uuid.UUID, max_attempts: int) -> dict[int, Previous]:
        """The rows a retry processes again: failed or skipped, with attempts left (row → previous outcome)."""
        query = select(
            import_rows.c.row_number, import_rows.c.status, import_rows.c.category, import_rows.c.attempts
        ).where(
            import_rows.c.job_id == job_id,
            import_rows.c.status.in_([str(s) for s in NEEDS_ATTENTION]),
            import_rows.c.attempts < max_attempts,
        )
        return {
            row.row_number: Previous(
                RowStatus(row.status), ErrorCategory(row.category) if row.category else None, row.attempts
            )
            for row in self.session.execute(query)
        }


def _entry(job_id: uuid.UUID, outcome: RowOutcome) -> dict[str, Any]:
    errors = [{"field": _text(e.field), "message": _text(e.message), "code": e.code} for e in outcome.errors]
    return {
        "job_id": job_id,
        "row_number": outcome.row.number,
        "line_number": outcome.row.line,
        "sku": _text(outcome.sku),
        "product_sku": _text(outcome.product_sku),
        "product_id": outcome.product_id,
        "status": str(outcome.status),
        "category": str(outcome.category) if outcome.category else None,
        "field": _text(outcome.field),
        "message": _text(outcome.message),
        "errors": errors or None,
        "defined_sku": outcome.product_sku.lower() if outcome.defined and outcome.product_sku else None,
        "product_version": outcome.product_version,
    }


ENTRY_COLUMNS = (
    "job_id",
    "row_number",
    "line_number",
    "sku",
    "product_sku",
    "product_id",
    "status",
    "category",
    "field",
    "message",
    "errors",
    "defined_sku",
    "product_version",
)


def _copied(entry: dict[str, Any]) -> tuple[Any, ...]:
    """An entry as a COPY row in the order of ENTRY_COLUMNS (the errors as JSON text)."""
    values = tuple(entry.values())
    return values if entry["errors"] is None else (*values[:10], _json(entry["errors"]), *values[11:])


def _text(value: str | None) -> str | None:
    """Text PostgreSQL can store: a row that was not valid UTF-8 (kept as surrogates) or held NUL characters is
    still named in the ledger, with U+FFFD where its bytes could not be read."""
    if value is None:
        return None
    if value.isascii() and "\x00" not in value:  # the usual case, checked in C: nothing to replace
        return value
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        value = value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return value.replace("\x00", "\ufffd")


# One encoder for every value: `json.dumps` with arguments builds a new encoder on each call.
_json = json.JSONEncoder(separators=(",", ":")).encode
