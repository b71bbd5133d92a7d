"""A job's row ledger as a file to download (pure): CSV cells safe to open in a spreadsheet, JSON Lines as is."""

import json
from collections.abc import Iterable, Iterator
from typing import Any

CSV_COLUMNS = ("row", "line", "sku", "product_sku", "status", "category", "field", "message", "attempts", "product_id")
# A cell starting with one of these is read as a formula by spreadsheet programs (CSV injection): such cells get a
# leading apostrophe, which those programs show as text. Row numbers and counts are ours and stay numbers.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_OURS = frozenset({"row", "line", "attempts"})


def spreadsheet_safe(cell: str) -> str:
    return "'" + cell if cell.startswith(_FORMULA_STARTS) else cell


def csv_cells(entry: dict[str, Any]) -> list[str]:
    cells = []
    for column in CSV_COLUMNS:
        value = entry.get(column)
        text = "" if value is None else str(value)
        cells.append(text if column in _OURS else spreadsheet_safe(text))
    return cells


def json_lines(entries: Iterable[dict[str, Any]], batch: int = 500) -> Iterator[str]:
    """One JSON object per line, `batch` lines per chunk (a chunk per line would cost a send per row)."""
    lines: list[str] = []
    for entry in entries:
        lines.append(json.dumps(entry, ensure_ascii=False, separators=(",", ":")) + "\n")
        if len(lines) >= batch:
            yield "".join(lines)
            lines.clear()
    if lines:
        yield "".join(lines)
