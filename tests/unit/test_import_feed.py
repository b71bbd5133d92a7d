"""Reading feeds: CSV columns and JSON Lines objects become rows; bad rows are named; bad feeds are refused."""

import io
from collections.abc import Callable
from typing import BinaryIO

import pytest

from catalog_core.domain.imports import FeedFormat
from catalog_importer.domain.feed import (
    MAX_JSON_DEPTH,
    MAX_LINE_BYTES,
    FeedError,
    FeedRow,
    Position,
    json_deeper_than,
    read_feed,
)

HEADER = "sku,name,price,currency"


def opener(data: bytes) -> Callable[[int], BinaryIO]:
    def open_at(offset: int) -> BinaryIO:
        stream = io.BytesIO(data)
        stream.seek(offset)
        return stream

    return open_at


def rows(data: bytes | str, fmt: FeedFormat = FeedFormat.CSV, start: Position | None = None) -> list[FeedRow]:
    raw = data.encode() if isinstance(data, str) else data
    return list(read_feed(fmt, opener(raw), start or Position()))


def test_csv_rows_map_columns_to_product_fields() -> None:
    feed = (
        "SKU,Name,price,currency,images,attr:Material,product_key,option:size,variant_price,stock\n"
        'TEE-S,"Linen tee, washed",19.90,EUR,https://i.example/a.jpg | https://i.example/b.jpg,linen,TEE,S,21.00,3\n'
    )
    [row] = rows(feed)
    assert row.number == 1
    assert row.line == 2
    assert row.error is None
    assert row.fields == {
        "sku": "TEE-S",
        "name": "Linen tee, washed",
        "price": "19.90",
        "currency": "EUR",
        "images": ["https://i.example/a.jpg", "https://i.example/b.jpg"],
        "attributes": {"Material": "linen"},
        "product_key": "TEE",
        "options": {"size": "S"},
        "variant_price": "21.00",
        "stock": "3",
    }


def test_empty_cells_are_absent_and_blank_lines_are_not_rows() -> None:
    found = rows(f"{HEADER},brand\nA-1,Tee,1.00,EUR,\n\n,,,,\nA-2,Tee,2.00,EUR,Acme\n")
    assert [(r.number, r.line) for r in found] == [(1, 2), (2, 5)]
    assert "brand" not in found[0].fields
    assert found[1].fields["brand"] == "Acme"


def test_a_quoted_field_may_span_lines_and_rows_know_where_the_next_one_starts() -> None:
    feed = f'{HEADER},description\nA-1,Tee,1.00,EUR,"two\nlines"\nA-2,Tee,2.00,EUR,\n'
    first, second = rows(feed)
    assert first.fields["description"] == "two\nlines"
    assert (second.number, second.line) == (2, 4)
    assert first.end == Position(feed.encode().index(b"A-2"), 2, 4)


def test_reading_resumes_exactly_after_a_row() -> None:
    feed = "".join([f"{HEADER}\n", *(f"A-{i},Tee,{i}.00,EUR\n" for i in range(1, 6))])
    everything = rows(feed)
    resumed = rows(feed, start=everything[2].end)
    assert [r.fields["sku"] for r in resumed] == ["A-4", "A-5"]
    assert [(r.number, r.line) for r in resumed] == [(4, 5), (5, 6)]
    jsonl = "".join(f'{{"sku": "J-{i}"}}\n' for i in range(1, 4))
    all_lines = rows(jsonl, FeedFormat.JSONL)
    assert [r.fields["sku"] for r in rows(jsonl, FeedFormat.JSONL, all_lines[0].end)] == ["J-2", "J-3"]


def test_invalid_utf8_is_a_parse_error_naming_the_line() -> None:
    feed = HEADER.encode() + b"\nA-1,Tee,1.00,EUR\nA-2,T\xffe,2.00,EUR\nA-3,Tee,3.00,EUR\n"
    found = rows(feed)
    assert [r.error is None for r in found] == [True, False, True]
    error = found[1].error
    assert error is not None
    assert error.message == "invalid UTF-8 on line 3 at byte 6 of the line (0xff)"
    assert found[1].fields["sku"] == "A-2"  # still known: the row's product can be told


def test_broken_csv_rows_are_parse_errors_and_reading_goes_on() -> None:
    found = rows(f'{HEADER}\nA-1,Tee,1.00\nA-2,"Tee"x,2.00,EUR\nA-3,Tee,3.00,EUR\n')
    assert [r.fields.get("sku") for r in found] == ["A-1", None, "A-3"]
    assert found[0].error is not None
    assert found[0].error.message == "line 2 has 3 values, the header 4 columns"
    assert found[1].error is not None
    assert found[1].error.message.startswith("line 3: ")
    assert found[2].error is None


@pytest.mark.parametrize(
    ("feed", "reason"),
    [
        ("", "the file is empty"),
        ("sku,name,price\n", "missing required column(s): currency"),
        ("product_key,name\n", "missing required column(s): sku"),
        ("sku,name,price,currency,colour\n", "unknown column(s): colour"),
        ("sku,name,price,currency,attr:a,ATTR:A\n", "column ATTR:A appears twice"),
        ('{"sku": "A-1"}\n', "the header looks like JSON"),
    ],
)
def test_csv_feeds_that_cannot_be_read_fail_before_any_row(feed: str, reason: str) -> None:
    with pytest.raises(FeedError, match=reason.replace("(", r"\(").replace(")", r"\)")):
        rows(feed)


def test_a_product_key_feed_needs_no_product_columns() -> None:
    [row] = rows("product_key,sku,option:size,stock\nTEE,TEE-S,S,4\n")
    assert row.fields == {"product_key": "TEE", "sku": "TEE-S", "options": {"size": "S"}, "stock": "4"}


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"\x1f\x8b\x08\x00", "gzip"),
        (b"PK\x03\x04rest", "ZIP archive"),
        (b"sku\x00name", "binary"),
    ],
)
def test_binary_files_are_refused(data: bytes, reason: str) -> None:
    for fmt in FeedFormat:
        with pytest.raises(FeedError, match=reason):
            read_feed(fmt, opener(data), Position())


def test_a_bom_is_not_part_of_the_first_column() -> None:
    [row] = rows("\ufeff" + HEADER + "\nA-1,Tee,1.00,EUR\n")
    assert row.fields["sku"] == "A-1"


def test_json_lines_rows_and_their_errors() -> None:
    feed = '{"sku": "J-1", "price": 1.5}\n\n[1, 2]\n{"sku": \n{"sku": "J-4", "name": "T\xff"}\n'.encode("latin-1")
    found = rows(feed, FeedFormat.JSONL)
    assert [(r.number, r.line) for r in found] == [(1, 1), (2, 3), (3, 4), (4, 5)]
    assert found[0].fields == {"sku": "J-1", "price": 1.5}
    assert [r.error.message if r.error else None for r in found] == [
        None,
        "line 3: a JSON object expected, not list",
        "line 4: invalid JSON: Expecting value at column 9",
        "invalid UTF-8 on line 5 at byte 26 of the line (0xff)",
    ]
    assert found[3].fields["sku"] == "J-4"


def test_a_jsonl_feed_whose_first_line_is_not_json_is_refused() -> None:
    with pytest.raises(FeedError, match="line 1 is not JSON"):
        rows("sku,name,price,currency\nA,B,1,EUR\n", FeedFormat.JSONL)
    with pytest.raises(FeedError, match="not an object"):
        rows("[1]\n", FeedFormat.JSONL)


def test_a_json_line_nested_too_deep_is_one_parse_error_and_reading_goes_on() -> None:
    deep = "[" * 10_000 + "]" * 10_000
    deep_object = '{"attributes": ' + '{"a": ' * 40 + "1" + "}" * 40 + "}"
    brackets_in_strings = '{"sku": "J-4", "name": "' + "[{" * 100 + '\\"[["}'
    feed = f'{{"sku": "J-1"}}\n{deep}\n{deep_object}\n{brackets_in_strings}\n{{"sku": "J-5"}}\n'
    found = rows(feed, FeedFormat.JSONL)
    assert [r.fields.get("sku") for r in found] == ["J-1", None, None, "J-4", "J-5"]
    assert [r.error.message if r.error else None for r in found] == [
        None,
        "line 2: invalid JSON: arrays and objects nested more than 32 deep",
        "line 3: invalid JSON: arrays and objects nested more than 32 deep",
        None,
        None,
    ]


def test_json_nesting_is_measured_without_recursion_and_strings_do_not_count() -> None:
    assert json_deeper_than("[" * 100_000, MAX_JSON_DEPTH)
    assert not json_deeper_than("[" * 32 + "]" * 32, MAX_JSON_DEPTH)
    assert not json_deeper_than('["' + "[" * 100 + '"]', MAX_JSON_DEPTH)
    assert not json_deeper_than('["\\\\", ' + '"\\"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["]', MAX_JSON_DEPTH)
    assert json_deeper_than('["\\\\"' + ", [" * 40, MAX_JSON_DEPTH)  # an escaped backslash ends no string


def test_a_json_line_longer_than_the_limit_is_one_parse_error_after_the_first_line() -> None:
    huge = '{"sku": "J-2", "description": "' + "x" * MAX_LINE_BYTES + '"}'
    feed = f'{{"sku": "J-1"}}\n{huge}\n{{"sku": "J-3"}}\n'
    found = rows(feed, FeedFormat.JSONL)
    assert [(r.number, r.line, r.fields.get("sku")) for r in found] == [(1, 1, "J-1"), (2, 2, None), (3, 3, "J-3")]
    assert found[1].error is not None
    assert found[1].error.message == f"line 2 is longer than {MAX_LINE_BYTES} bytes"
    assert found[1].end == Position(feed.encode().index(b'{"sku": "J-3"}'), 3, 3)
    assert [r.fields["sku"] for r in rows(feed, FeedFormat.JSONL, found[0].end) if r.fields] == ["J-3"]
    with pytest.raises(FeedError, match="line 1 is longer"):  # a first line that long: the file is no feed
        rows(f"{huge}\n", FeedFormat.JSONL)
    with pytest.raises(FeedError, match="line 3 is longer"):  # CSV rows may span lines: no row to skip to
        rows(f"{HEADER},description\nA-1,Tee,1.00,EUR,\nA-2,Tee,1.00,EUR,{'x' * MAX_LINE_BYTES}\n")
