"""Reading a feed as rows, a line at a time: CSV with a header, or JSON Lines (one JSON object per line).

Every row carries where the next one starts (byte offset, row and line number), so a job resumes exactly after
its last committed chunk. A row that cannot be read becomes a row with a PARSE error naming its line; a feed that
cannot be read at all (no header, unknown columns, not text) raises FeedError before any row is produced.

CSV columns (header names are case-insensitive):

- `sku`, `name`, `brand`, `description`, `price`, `currency`, `stock`, `status`: the product's fields;
- `images`: image URLs separated by `|`;
- `attr:<name>`: one attribute per column (`attr:material`);
- `product_key`: rows with the same key, one after the other, are one product whose SKU is the key; each such
  row is a variant: `sku` is the variant's SKU, `stock` its stock, `variant_price` its price, `option:<name>` its
  option values (`option:size`). The product's fields are given on the first row (later rows leave them empty or
  repeat them unchanged). Rows with a `product_key` and no product fields at all add or update variants of a
  product already in the catalog.

A JSON Lines object uses the same names with JSON values: `attributes` and `options` objects, `images` a list.
A line without `product_key` may also be a whole product as the API takes it, with its `variants` list.
"""

import csv
import json
import re
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, BinaryIO

from catalog_core.domain.imports import FeedFormat

MAX_LINE_BYTES = 1024 * 1024
SNIFF_BYTES = 8192
# A product line nests at most 3 deep (`variants` → a variant → `options`). `json.loads` recurses once per level, so a
# line of 10 000 nested arrays would raise RecursionError in it; lines deeper than this are refused before parsing.
MAX_JSON_DEPTH = 32
_JSON_STRUCTURE = re.compile(r'[\[\]{}"\\]')

PRODUCT_COLUMNS = ("sku", "name", "brand", "description", "price", "currency", "stock", "status", "images")
ROW_COLUMNS = ("product_key", "variant_price", *PRODUCT_COLUMNS)
ATTRIBUTE_PREFIX = "attr:"
OPTION_PREFIX = "option:"
REQUIRED_COLUMNS = ("sku",)
REQUIRED_WITHOUT_PRODUCT_KEY = ("name", "price", "currency")
LIST_SEPARATOR = "|"

OpenStream = Callable[[int], AbstractContextManager[BinaryIO]]


class FeedError(Exception):
    """The feed as a whole cannot be read; the job fails with this reason."""


class _TooDeep(ValueError):
    """A JSON line nests deeper than MAX_JSON_DEPTH."""


@dataclass(frozen=True)
class Position:
    """Where reading (re)starts: a byte offset, and the number the next row and line get there."""

    offset: int = 0
    row: int = 1
    line: int = 1


@dataclass(frozen=True)
class FieldError:
    field: str | None
    message: str
    code: str


@dataclass(frozen=True)
class FeedRow:
    """One row of the feed: its number (1-based, header not counted), first line, and fields by canonical name.

    `fields` may be partial when `error` is set (enough to know which product the row belongs to).
    """

    number: int
    line: int
    end: Position
    fields: Mapping[str, Any]
    error: FieldError | None = None  # a PARSE error


def read_feed(fmt: FeedFormat, open_stream: OpenStream, start: Position) -> Iterator[FeedRow]:
    """The rows of a feed from `start` on; `open_stream(offset)` opens the stored file at a byte offset."""
    if start.offset == 0:
        with open_stream(0) as stream:
            _sniff(stream.read(SNIFF_BYTES), fmt)
    if fmt is FeedFormat.CSV:
        return _csv_rows(open_stream, start)
    return _jsonl_rows(open_stream, start)


def _sniff(head: bytes, fmt: FeedFormat) -> None:
    if head.startswith(b"\x1f\x8b"):
        raise FeedError("the file is gzip-compressed: upload the uncompressed feed")
    if head.startswith(b"PK\x03\x04"):
        raise FeedError("the file is a ZIP archive (a spreadsheet workbook?): export the sheet as CSV")
    if b"\x00" in head:
        raise FeedError(f"the file is binary, not {fmt} text")


class _Lines:
    """Lines of a binary stream decoded as UTF-8, counting bytes and lines.

    Invalid UTF-8 is kept (as surrogates, so the line still splits into fields) and reported in `invalid`, like
    NUL characters.
    """

    def __init__(self, stream: BinaryIO, position: Position) -> None:
        self.stream = stream
        self.offset = position.offset
        self.line = position.line - 1  # the number of the last line read
        self.invalid: list[str] = []
        # Whether a line longer than MAX_LINE_BYTES is skipped (and read as "" with `oversized` set) rather than
        # failing the feed: JSON Lines rows stand alone, CSV rows may span lines.
        self.skip_long_lines = False
        self.oversized = False

    def __iter__(self) -> "_Lines":
        return self

    def __next__(self) -> str:
        raw = self.stream.readline(MAX_LINE_BYTES + 1)
        if not raw:
            raise StopIteration
        self.oversized = len(raw) > MAX_LINE_BYTES
        if self.oversized:
            if not self.skip_long_lines:
                raise FeedError(
                    f"line {self.line + 1} is longer than {MAX_LINE_BYTES} bytes: is the file really a feed?"
                )
            self.line += 1
            self.offset += len(raw) + self._skip_rest_of_line(raw)
            return ""
        self.line += 1
        self.offset += len(raw)
        if b"\x00" in raw:  # text columns cannot hold it; the row is unreadable, not the catalog's to refuse
            self.invalid.append(f"NUL character on line {self.line} at byte {raw.index(0) + 1} of the line")
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            self.invalid.append(
                f"invalid UTF-8 on line {self.line} at byte {exc.start + 1} of the line (0x{raw[exc.start]:02x})"
            )
            return raw.decode("utf-8", "surrogateescape")

    def _skip_rest_of_line(self, start: bytes) -> int:
        """Read up to the end of a line without keeping it; the number of bytes read."""
        skipped = 0
        chunk = start
        while chunk and not chunk.endswith(b"\n"):
            chunk = self.stream.readline(MAX_LINE_BYTES)
            skipped += len(chunk)
        return skipped


@dataclass(frozen=True)
class CsvColumn:
    """Where a CSV column's value goes: a field (`name`), or a key of `attributes` / `options`."""

    name: str
    target: str
    key: str | None = None


def csv_columns(header: list[str]) -> list[CsvColumn]:
    """The meaning of each header column; FeedError for unknown, duplicate or missing columns."""
    header = [h.strip() for h in header]
    if header:
        header[0] = header[0].removeprefix("\ufeff")
    if header and header[0].startswith("{"):
        raise FeedError("the header looks like JSON: is the feed JSON Lines (format=jsonl)?")
    columns: list[CsvColumn] = []
    unknown: list[str] = []
    for name in header:
        lower = name.lower()
        if lower in ROW_COLUMNS:
            columns.append(CsvColumn(lower, lower))
        elif lower.startswith(ATTRIBUTE_PREFIX) and name[len(ATTRIBUTE_PREFIX) :].strip():
            columns.append(CsvColumn(name, "attributes", name[len(ATTRIBUTE_PREFIX) :].strip()))
        elif lower.startswith(OPTION_PREFIX) and name[len(OPTION_PREFIX) :].strip():
            columns.append(CsvColumn(name, "options", name[len(OPTION_PREFIX) :].strip()))
        else:
            unknown.append(name or "(empty)")
    if unknown:
        raise FeedError(
            f"unknown column(s): {', '.join(unknown)}; the columns are {', '.join(ROW_COLUMNS)}, "
            f"{ATTRIBUTE_PREFIX}<name> and {OPTION_PREFIX}<name>"
        )
    seen: set[tuple[str, str | None]] = set()
    for column in columns:
        key = (column.target, column.key.lower() if column.key else None)
        if key in seen:
            raise FeedError(f"column {column.name} appears twice")
        seen.add(key)
    names = {c.target for c in columns}
    required = list(REQUIRED_COLUMNS)
    if "product_key" not in names:
        required += REQUIRED_WITHOUT_PRODUCT_KEY
    missing = [name for name in required if name not in names]
    if missing:
        raise FeedError(
            f"missing required column(s): {', '.join(missing)}"
            + (
                ""
                if "product_key" in names
                else " (a feed without product_key gives every product's name, price and currency)"
            )
        )
    return columns


def csv_fields(columns: list[CsvColumn], values: list[str]) -> dict[str, Any]:
    """A CSV record as canonical fields: empty cells are absent, `images` split, `attr:`/`option:` gathered."""
    fields: dict[str, Any] = {}
    for column, raw in zip(columns, values, strict=False):
        value = raw.strip()
        if not value:
            continue
        if column.key is not None:
            fields.setdefault(column.target, {})[column.key] = value
        elif column.target == "images":
            fields["images"] = [url.strip() for url in value.split(LIST_SEPARATOR) if url.strip()]
        else:
            fields[column.target] = value
    return fields


def _csv_rows(open_stream: OpenStream, start: Position) -> Iterator[FeedRow]:
    with open_stream(0) as stream:
        lines = _Lines(stream, Position())
        reader = csv.reader(lines, strict=True)
        try:
            header = next(reader)
        except StopIteration:
            raise FeedError("the file is empty: a CSV feed starts with a header row") from None
        except csv.Error as exc:
            raise FeedError(f"the header row cannot be read: {exc}") from exc
        if lines.invalid:
            raise FeedError(f"the header row is not UTF-8: {lines.invalid[0]}")
        columns = csv_columns(header)
        first = Position(lines.offset, 1, lines.line + 1)
        if start.offset <= first.offset:
            yield from _csv_records(reader, lines, columns, first)
            return
    with open_stream(start.offset) as stream:
        lines = _Lines(stream, start)
        yield from _csv_records(csv.reader(lines, strict=True), lines, columns, start)


def _csv_records(reader: Any, lines: _Lines, columns: list[CsvColumn], start: Position) -> Iterator[FeedRow]:
    number = start.row
    while True:
        lines.invalid.clear()
        first_line = lines.line + 1
        error: FieldError | None = None
        try:
            values: list[str] = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            values = []
            error = FieldError(None, f"line {first_line}: {exc}", "csv")
        if error is None and not lines.invalid and not any(v.strip() for v in values):
            continue  # a blank line is not a row
        fields = csv_fields(columns, values)
        if lines.invalid:
            error = FieldError(None, lines.invalid[0], "utf8")
        elif error is None and len(values) != len(columns):
            error = FieldError(
                None, f"line {first_line} has {len(values)} values, the header {len(columns)} columns", "columns"
            )
        end = Position(lines.offset, number + 1, lines.line + 1)
        yield FeedRow(number, first_line, end, fields, error)
        number += 1


def json_deeper_than(text: str, limit: int) -> bool:
    """Whether the JSON `text` nests arrays and objects more than `limit` deep; linear, without recursion.

    Brackets inside strings do not count. Text that is not JSON may be misjudged, which only changes why it is
    refused.
    """
    if text.count("[") + text.count("{") <= limit:
        return False  # it cannot nest deeper than it has brackets: most lines cost two counts in C and no more
    depth = 0
    in_string = False
    escaped_at = -1  # a backslash in a string escapes the next character, whatever it is
    for match in _JSON_STRUCTURE.finditer(text):
        at, char = match.start(), match.group()
        if at == escaped_at:
            continue
        if in_string:
            if char == "\\":
                escaped_at = at + 1
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > limit:
                return True
        elif char in "]}":
            depth -= 1
    return False


def _jsonl_rows(open_stream: OpenStream, start: Position) -> Iterator[FeedRow]:
    must_look_like_json = start.offset == 0  # the first row tells a JSON Lines feed from anything else
    number = start.row
    with open_stream(start.offset) as stream:
        lines = _Lines(stream, start)
        # A too-long first line says the file is no feed; after a JSON row, a too-long line is one bad row.
        lines.skip_long_lines = not must_look_like_json
        for text in lines:
            line = lines.line
            if lines.oversized:
                too_large = FieldError(None, f"line {line} is longer than {MAX_LINE_BYTES} bytes", "too_large")
                lines.invalid.clear()
                yield FeedRow(number, line, Position(lines.offset, number + 1, line + 1), {}, too_large)
                number += 1
                continue
            if not text.strip():
                lines.invalid.clear()
                continue
            if number == 1 and line == 1:
                text = text.removeprefix("\ufeff")
            fields: dict[str, Any] = {}
            error: FieldError | None = None
            try:
                if json_deeper_than(text, MAX_JSON_DEPTH):
                    raise _TooDeep(f"arrays and objects nested more than {MAX_JSON_DEPTH} deep")
                value = json.loads(text.rstrip("\r\n"))
            except _TooDeep as exc:
                error = FieldError(None, f"line {line}: invalid JSON: {exc}", "json_depth")
            except RecursionError:
                # The depth bound keeps json.loads from recursing this far; should it still, the row is refused alone.
                error = FieldError(None, f"line {line}: invalid JSON: nested too deeply", "json_depth")
            except ValueError as exc:
                if must_look_like_json:
                    raise FeedError(f"line {line} is not JSON: is the feed really JSON Lines (format=jsonl)?") from exc
                message = exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc)
                column = f" at column {exc.colno}" if isinstance(exc, json.JSONDecodeError) else ""
                error = FieldError(None, f"line {line}: invalid JSON: {message}{column}", "json")
            else:
                if isinstance(value, dict):
                    fields = value
                elif must_look_like_json:
                    raise FeedError(f"line {line} is JSON but not an object: JSON Lines feeds have one object per line")
                else:
                    error = FieldError(None, f"line {line}: a JSON object expected, not {type(value).__name__}", "json")
            must_look_like_json = False
            lines.skip_long_lines = True
            if lines.invalid:
                error = FieldError(None, lines.invalid[0], "utf8")
                lines.invalid.clear()
            yield FeedRow(number, line, Position(lines.offset, number + 1, line + 1), fields, error)
            number += 1
