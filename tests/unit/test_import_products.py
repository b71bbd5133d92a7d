"""From rows to products: grouping by product_key, chunking, the shared ProductDraft rules, and row outcomes."""

from datetime import UTC, datetime
from typing import Any

import pytest

from catalog_core.domain.imports import ErrorCategory, FeedFormat, RowStatus
from catalog_core.domain.model import Product
from catalog_core.domain.products import ProductDraft
from catalog_importer.domain.feed import FeedRow, FieldError, Position
from catalog_importer.domain.products import (
    Kind,
    PlannedProduct,
    ProductRows,
    RowOutcome,
    chunks,
    draft,
    plan,
)

CSV = FeedFormat.CSV
JSONL = FeedFormat.JSONL


def row(number: int, error: FieldError | None = None, **fields: Any) -> FeedRow:
    return FeedRow(number, number + 1, Position(number * 100, number + 1, number + 2), fields, error)


def tee(number: int, size: str, **extra: Any) -> FeedRow:
    """A variant row of product TEE (product fields only on row 1)."""
    product = {"name": "Linen tee", "price": "19.90", "currency": "EUR"} if number == 1 else {}
    fields = {"product_key": "TEE", "sku": f"TEE-{size}", "options": {"size": size}, "stock": "2", **product}
    return row(number, **{**fields, **extra})


def simple(number: int, sku: str, **extra: Any) -> FeedRow:
    return row(number, sku=sku, name="Mug", price="8.50", currency="EUR", **extra)


def outcomes(result: object) -> list[tuple[int, RowStatus, ErrorCategory | None, str | None]]:
    assert isinstance(result, list), result
    found: list[RowOutcome] = result
    return [(o.row.number, o.status, o.category, o.field) for o in found]


def planned(rows: list[FeedRow], fmt: FeedFormat = CSV) -> PlannedProduct:
    result = plan(ProductRows(tuple(rows)), fmt)
    assert isinstance(result, PlannedProduct), result
    return result


def test_rows_sharing_a_product_key_become_one_product_with_variants() -> None:
    p = planned([tee(1, "S"), tee(2, "M", variant_price="21.00"), tee(3, "L")])
    assert (p.kind, p.sku) == (Kind.DEFINE, "TEE")
    result = draft(p, None, CSV)
    assert isinstance(result, ProductDraft)
    assert result.sku == "TEE"
    assert [(v.sku, v.options, v.stock) for v in result.variants] == [
        ("TEE-S", {"size": "S"}, 2),
        ("TEE-M", {"size": "M"}, 2),
        ("TEE-L", {"size": "L"}, 2),
    ]
    assert str(result.variants[1].price) == "21.00"
    assert result.total_stock == 6


def test_chunks_follow_product_boundaries_and_hold_a_product_once() -> None:
    rows = [tee(1, "S"), tee(2, "M"), simple(3, "MUG-1"), simple(4, "MUG-2"), simple(5, "mug-1"), simple(6, "MUG-3")]
    cut = list(chunks(rows, chunk_rows=2))
    # TEE fills the first chunk; MUG-1 given again (any case) starts a new chunk.
    assert [[[r.number for r in p.rows] for p in chunk] for chunk in cut] == [[[1, 2]], [[3], [4]], [[5], [6]]]


def test_a_product_with_too_many_rows_fails_in_bounded_pieces() -> None:
    rows = [row(i, product_key="BIG", sku=f"BIG-{i}", options={"n": str(i)}) for i in range(1, 8)]
    products = [p for chunk in chunks(rows, chunk_rows=100, max_product_rows=3) for p in chunk]
    assert [len(p.rows) for p in products] == [4, 3]
    assert all(p.oversized for p in products)
    assert {status for _, status, _, _ in outcomes(plan(products[0], CSV))} == {RowStatus.FAILED}


def test_a_bad_variant_row_fails_with_its_column_and_its_siblings_are_skipped() -> None:
    p = planned([tee(1, "S"), tee(2, "M", stock="-1"), row(3, product_key="TEE", sku="TEE L", options={"size": "L"})])
    result = draft(p, None, CSV)
    assert outcomes(result) == [
        (1, RowStatus.SKIPPED, None, None),
        (2, RowStatus.FAILED, ErrorCategory.VALIDATION, "stock"),
        (3, RowStatus.FAILED, ErrorCategory.VALIDATION, "sku"),
    ]
    assert isinstance(result, list)
    assert result[0].message == "not imported: row 2 of the same product failed"
    assert result[1].message == "stock: Input should be greater than or equal to 0"


def test_product_field_errors_name_the_csv_column_on_the_first_row() -> None:
    p = planned([tee(1, "S", price="cheap", attributes={"material": "x" * 2000}), tee(2, "M")])
    result = draft(p, None, CSV)
    assert outcomes(result) == [
        (1, RowStatus.FAILED, ErrorCategory.VALIDATION, "price"),
        (2, RowStatus.SKIPPED, None, None),
    ]
    assert isinstance(result, list)
    assert {e.field for e in result[0].errors} == {"attr:material", "price"}
    assert result[0].message == (
        "price: Input should be a valid decimal; attr:material: values are limited to 1000 characters"
    )
    decimals = draft(planned([tee(1, "S", price="19.999")]), None, CSV)
    assert isinstance(decimals, list)
    assert decimals[0].message == "price: EUR prices have at most 2 decimals"


def test_the_same_rule_names_json_paths_in_json_lines() -> None:
    variants = [{"sku": "SHOE-1", "options": {}}, {"sku": "shoe", "options": {"size": "41"}}]
    line = row(1, sku="SHOE", name="Shoe", price="89", currency="EUR", variants=variants)
    result = draft(planned([line], JSONL), None, JSONL)
    assert outcomes(result) == [(1, RowStatus.FAILED, ErrorCategory.VALIDATION, "variants[0].options")]
    variants[0]["options"] = {"size": "40"}
    result = draft(planned([line], JSONL), None, JSONL)
    assert outcomes(result) == [(1, RowStatus.FAILED, ErrorCategory.VALIDATION, "variants[1].sku")]


def test_later_rows_may_repeat_product_fields_but_not_change_them() -> None:
    same = tee(2, "M", name="Linen tee")
    changed = tee(3, "L", name="Cotton tee", attributes={"fit": "slim"})
    result = plan(ProductRows((tee(1, "S"), same, changed)), CSV)
    assert outcomes(result) == [
        (1, RowStatus.SKIPPED, None, None),
        (2, RowStatus.SKIPPED, None, None),
        (3, RowStatus.FAILED, ErrorCategory.VALIDATION, "name"),
    ]
    assert isinstance(result, list)
    assert [e.field for e in result[2].errors] == ["name", "attr:fit"]


def test_parse_errors_fail_their_row_and_skip_the_rest_of_the_product() -> None:
    broken = row(2, error=FieldError(None, "invalid UTF-8 on line 3", "utf8"), product_key="TEE", sku="TEE-M")
    result = plan(ProductRows((tee(1, "S"), broken)), CSV)
    assert outcomes(result) == [
        (1, RowStatus.SKIPPED, None, None),
        (2, RowStatus.FAILED, ErrorCategory.PARSE, None),
    ]


def test_variant_columns_need_a_product_key_and_unknown_json_fields_are_named() -> None:
    assert outcomes(plan(ProductRows((simple(1, "MUG", options={"size": "S"}),)), CSV)) == [
        (1, RowStatus.FAILED, ErrorCategory.VALIDATION, "option:size")
    ]
    assert outcomes(plan(ProductRows((simple(1, "MUG", colour="red"),)), JSONL)) == [
        (1, RowStatus.FAILED, ErrorCategory.VALIDATION, "colour")
    ]


def stored_tee() -> Product:
    d = ProductDraft.model_validate(
        {
            "sku": "TEE",
            "name": "Linen tee",
            "price": "19.90",
            "currency": "EUR",
            "variants": [{"sku": "TEE-S", "options": {"size": "S"}, "stock": 1}],
        }
    )
    return Product.create(d, datetime.now(UTC))


def test_variant_rows_without_product_fields_amend_a_stored_product() -> None:
    amend = [
        row(1, product_key="TEE", sku="TEE-S", stock="9"),
        row(2, product_key="TEE", sku="TEE-M", options={"size": "M"}, stock="4"),
    ]
    p = planned(amend)
    assert p.kind is Kind.AMEND
    result = draft(p, stored_tee(), CSV)
    assert isinstance(result, ProductDraft)
    assert result.name == "Linen tee"
    assert [(v.sku, v.options, v.stock) for v in result.variants] == [
        ("TEE-S", {"size": "S"}, 9),
        ("TEE-M", {"size": "M"}, 4),
    ]


def test_amending_a_product_that_does_not_exist_is_a_reference_error() -> None:
    result = draft(planned([row(1, product_key="GHOST", sku="GHOST-S", options={"size": "S"})]), None, CSV)
    assert outcomes(result) == [(1, RowStatus.FAILED, ErrorCategory.REFERENCE, "product_key")]


def test_an_amended_variant_breaking_a_product_rule_names_its_row() -> None:
    result = draft(planned([row(1, product_key="TEE", sku="TEE-X", options={"colour": "red"})]), stored_tee(), CSV)
    assert outcomes(result) == [(1, RowStatus.FAILED, ErrorCategory.VALIDATION, "option:colour")]


@pytest.mark.parametrize("fmt", list(FeedFormat))
def test_a_row_without_sku_names_the_sku_field(fmt: FeedFormat) -> None:
    result = draft(planned([row(1, name="Mug", price="1", currency="EUR")], fmt), None, fmt)
    assert outcomes(result) == [(1, RowStatus.FAILED, ErrorCategory.VALIDATION, "sku")]
