"""From rows to products: which rows make one product, the `ProductDraft` they describe, and each row's outcome.

A product is all or nothing: if one of its rows fails, none of its rows is written; the failing rows are
`failed` (with the field at fault), the others `skipped` naming the row that failed.
"""

import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from functools import cached_property
from typing import Any

from pydantic import ValidationError

from catalog_core.domain.imports import ErrorCategory, FeedFormat, RowStatus
from catalog_core.domain.model import Product
from catalog_core.domain.products import MAX_VARIANTS, ProductDraft
from catalog_importer.domain.feed import ATTRIBUTE_PREFIX, OPTION_PREFIX, FeedRow, FieldError
from catalog_kit.field_paths import field_path

# Fields of the product itself; in a product_key group they come from the group's first row.
PRODUCT_FIELDS = ("name", "brand", "description", "price", "currency", "status", "images", "attributes")
ROW_FIELDS = frozenset({"product_key", "sku", "stock", "options", "variant_price", "variants", *PRODUCT_FIELDS})
MAX_ERRORS_PER_ROW = 10


class Kind(StrEnum):
    DEFINE = "define"  # the rows give the whole product: it is created or replaced
    AMEND = "amend"  # variant rows without product fields: added to (or updated in) a product in the catalog


@dataclass(frozen=True)
class ProductRows:
    """The rows of one product: adjacent rows sharing a `product_key`, or a single row without one."""

    rows: tuple[FeedRow, ...]
    oversized: bool = False  # more rows than a product may have variants; all of them fail

    @cached_property
    def key(self) -> str | None:
        """The lower-cased SKU of the product (SKUs are unique case-insensitively), if the rows name one."""
        return product_sku_key(self.rows[0])

    @cached_property
    def grouped(self) -> bool:
        return parent_key(self.rows[0]) is not None


def parent_key(row: FeedRow) -> str | None:
    return _key(row.fields.get("product_key"))


def product_sku_key(row: FeedRow) -> str | None:
    return _key(row.fields.get("product_key") or row.fields.get("sku"))


def _key(value: Any) -> str | None:
    """A key as text, lower-cased (JSON Lines may give a number)."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        return None
    return str(value).strip().lower() or None


@dataclass(frozen=True)
class RowOutcome:
    """What happened to a row: the ledger entry."""

    row: FeedRow
    status: RowStatus
    category: ErrorCategory | None = None
    errors: tuple[FieldError, ...] = ()
    product_id: uuid.UUID | None = None
    product_sku: str | None = None
    defined: bool = False  # the first row of a product the feed gave in full (finds a product given twice)
    product_version: int | None = None  # the version the row wrote (or found unchanged): the job's lineage

    @property
    def field(self) -> str | None:
        return self.errors[0].field if self.errors else None

    @property
    def message(self) -> str | None:
        if not self.errors:
            return None
        return "; ".join(f"{e.field}: {e.message}" if e.field else e.message for e in self.errors)

    @property
    def sku(self) -> str | None:
        value = self.row.fields.get("sku")
        return value.strip()[:200] if isinstance(value, str) else None


@dataclass(frozen=True)
class Failure:
    """A row at fault and why."""

    row: FeedRow
    category: ErrorCategory
    errors: tuple[FieldError, ...]


@dataclass(frozen=True)
class PlannedProduct:
    """Rows that passed the row-level checks, ready to become a draft once the stored product is known."""

    group: ProductRows
    kind: Kind
    sku: str  # the product's SKU as given
    fields: Mapping[str, Any]  # product fields (DEFINE), without variants
    variant_rows: tuple[FeedRow, ...] = ()  # rows that are variants (product_key groups)
    nested: bool = False  # one JSON line holding the whole product, variants included

    @property
    def key(self) -> str:
        return self.sku.lower()


def failed(group: ProductRows, failures: Sequence[Failure]) -> list[RowOutcome]:
    """The outcomes of a product that cannot be written: failing rows `failed`, the others `skipped`."""
    by_row: dict[int, list[Failure]] = {}
    for failure in failures:
        by_row.setdefault(failure.row.number, []).append(failure)
    first = min(by_row)
    sku = _given_sku(group)
    outcomes = []
    for row in group.rows:
        found = by_row.get(row.number)
        if found:
            errors = tuple(e for f in found for e in f.errors)[:MAX_ERRORS_PER_ROW]
            outcomes.append(RowOutcome(row, RowStatus.FAILED, found[0].category, errors, product_sku=sku))
        else:
            reason = FieldError(None, f"not imported: row {first} of the same product failed", "sibling_failed")
            outcomes.append(RowOutcome(row, RowStatus.SKIPPED, None, (reason,), product_sku=sku))
    return outcomes


def succeeded(
    planned: PlannedProduct, status: RowStatus, product_id: uuid.UUID, version: int | None = None
) -> list[RowOutcome]:
    return [
        RowOutcome(
            row,
            status,
            product_id=product_id,
            product_sku=planned.sku,
            defined=planned.kind is Kind.DEFINE and i == 0,
            product_version=version,
        )
        for i, row in enumerate(planned.group.rows)
    ]


def plan(group: ProductRows, fmt: FeedFormat) -> PlannedProduct | list[RowOutcome]:
    """Check what can be checked row by row; a product fit to build a draft from, or the rows' outcomes."""
    failures = [Failure(row, ErrorCategory.PARSE, (row.error,)) for row in group.rows if row.error is not None]
    if group.oversized:
        key = group.rows[0].fields.get("product_key")
        message = f"a product has at most {MAX_VARIANTS} variants; product_key {key} has more rows"
        failures += [
            Failure(row, ErrorCategory.VALIDATION, (FieldError("product_key", message, "too_many_rows"),))
            for row in group.rows
        ]
    failures += [
        Failure(row, ErrorCategory.VALIDATION, errors)
        for row in group.rows
        if (errors := _unknown_fields(row, fmt) + _misplaced_fields(row, fmt, group.grouped))
    ]
    if not failures and group.grouped:
        failures += _inconsistent_product_fields(group, fmt)
    if failures:
        return failed(group, failures)
    first = group.rows[0]
    if not group.grouped:
        fields = {k: v for k, v in first.fields.items() if k != "product_key"}
        sku = fields.get("sku")
        return PlannedProduct(
            group, Kind.DEFINE, sku.strip() if isinstance(sku, str) else "", fields, nested="variants" in fields
        )
    product_fields = {k: first.fields[k] for k in PRODUCT_FIELDS if k in first.fields}
    kind = Kind.DEFINE if product_fields else Kind.AMEND
    return PlannedProduct(group, kind, str(first.fields["product_key"]).strip(), product_fields, group.rows)


def draft(planned: PlannedProduct, current: Product | None, fmt: FeedFormat) -> ProductDraft | list[RowOutcome]:
    """The product the rows describe — on top of `current` for variant rows that amend a stored product."""
    if planned.kind is Kind.AMEND and current is None:
        return failed(
            planned.group,
            [
                Failure(
                    row,
                    ErrorCategory.REFERENCE,
                    (
                        FieldError(
                            "product_key",
                            f"no product with SKU {planned.sku} in the catalog or earlier in the feed; variant rows "
                            "without product fields add to an existing product",
                            "unknown_product",
                        ),
                    ),
                )
                for row in planned.group.rows
            ],
        )
    data, variant_rows = _draft_data(planned, current)
    try:
        return ProductDraft.model_validate(data)
    except ValidationError as exc:
        by_row: dict[int, tuple[FeedRow, list[FieldError]]] = {}
        for error in exc.errors():
            row, loc = _locate(planned, tuple(error["loc"]), variant_rows)
            if len(loc) == 1 and loc[0] in ("options", "attributes"):
                loc = (loc[0], *_first_key(row.fields.get(str(loc[0]))))  # a CSV column, not `option:*`
            by_row.setdefault(row.number, (row, []))[1].append(
                FieldError(field_name(fmt, loc), error["msg"], error["type"])
            )
        return failed(
            planned.group,
            [Failure(row, ErrorCategory.VALIDATION, tuple(errors)) for row, errors in by_row.values()],
        )


def field_name(fmt: FeedFormat, loc: tuple[int | str, ...]) -> str:
    """A row-level location as the feed names it: the CSV column (`attr:material`) or the JSON path."""
    if fmt is FeedFormat.JSONL:
        return field_path(loc) or "row"
    head = str(loc[0]) if loc else "row"
    prefix = {"attributes": ATTRIBUTE_PREFIX, "options": OPTION_PREFIX}.get(head)
    if prefix is not None:
        return f"{prefix}{loc[1]}" if len(loc) > 1 and isinstance(loc[1], str) else f"{prefix}*"
    return head


def _draft_data(planned: PlannedProduct, current: Product | None) -> tuple[dict[str, Any], dict[int, FeedRow]]:
    """The draft's input, and which row each variant index came from."""
    if not planned.group.grouped:
        return dict(planned.fields), {}
    given = [(row, _variant(row)) for row in planned.variant_rows]
    if planned.kind is Kind.DEFINE:
        data = {**planned.fields, "sku": planned.sku, "variants": [v for _, v in given]}
        return data, {i: row for i, (row, _) in enumerate(given)}
    assert current is not None
    data = current.draft.model_dump(mode="json")
    variants: list[dict[str, Any]] = data["variants"]
    index = {str(v["sku"]).lower(): i for i, v in enumerate(variants)}
    rows: dict[int, FeedRow] = {}
    for row, variant in given:
        at = index.get(str(variant.get("sku", "")).strip().lower())
        if at is None:
            at = len(variants)
            variants.append(variant)
            index[str(variant.get("sku", "")).strip().lower()] = at
        else:
            variants[at] = {**variants[at], **variant}
        rows[at] = row
    return data, rows


def _variant(row: FeedRow) -> dict[str, Any]:
    names = {"sku": "sku", "options": "options", "variant_price": "price", "stock": "stock"}
    return {target: row.fields[name] for name, target in names.items() if name in row.fields}


def _locate(
    planned: PlannedProduct, loc: tuple[int | str, ...], variant_rows: Mapping[int, FeedRow]
) -> tuple[FeedRow, tuple[int | str, ...]]:
    """The row and row-level location a draft error belongs to."""
    first = planned.group.rows[0]
    if not planned.group.grouped:
        return first, loc
    if len(loc) >= 2 and loc[0] == "variants" and isinstance(loc[1], int) and loc[1] in variant_rows:
        rest = loc[2:]
        if not rest:
            return variant_rows[loc[1]], ("sku",)
        name = "variant_price" if rest[0] == "price" else rest[0]
        return variant_rows[loc[1]], (name, *rest[1:])
    if loc[:1] in (("sku",), ("variants",)):
        return first, ("product_key",)
    return first, loc


def _unknown_fields(row: FeedRow, fmt: FeedFormat) -> tuple[FieldError, ...]:
    if fmt is FeedFormat.CSV or row.error is not None:  # CSV columns were checked with the header
        return ()
    return tuple(FieldError(name, "unknown field", "unknown_field") for name in sorted(set(row.fields) - ROW_FIELDS))[
        :MAX_ERRORS_PER_ROW
    ]


def _misplaced_fields(row: FeedRow, fmt: FeedFormat, grouped: bool) -> tuple[FieldError, ...]:
    if row.error is not None:
        return ()
    if grouped and "variants" in row.fields:
        return (FieldError("variants", "not with product_key: give one row per variant", "variants_with_key"),)
    if not grouped:
        names = [n for n in ("options", "variant_price") if n in row.fields]
        return tuple(
            FieldError(
                field_name(fmt, (name, *_first_key(row.fields[name]))),
                "needs a product_key: variants are rows that share one",
                "needs_product_key",
            )
            for name in names
        )
    return ()


def _first_key(value: Any) -> tuple[str, ...]:
    return (str(next(iter(value))),) if isinstance(value, dict) and value else ()


def _inconsistent_product_fields(group: ProductRows, fmt: FeedFormat) -> list[Failure]:
    """Later rows of a product may repeat its fields, not change them."""
    first = group.rows[0]
    failures = []
    for row in group.rows[1:]:
        locs: list[tuple[int | str, ...]] = []
        for name in PRODUCT_FIELDS:
            value, expected = row.fields.get(name), first.fields.get(name)
            if value is None or value == expected:
                continue
            if name == "attributes" and isinstance(value, dict):
                before = expected if isinstance(expected, dict) else {}
                keys = sorted(k for k in {*value, *before} if value.get(k) != before.get(k))
                locs += [(name, key) for key in keys] or [(name,)]
            else:
                locs.append((name,))
        if locs:
            message = f"differs from row {first.number}, the product's first row (product fields are given once)"
            errors = tuple(FieldError(field_name(fmt, loc), message, "product_field_differs") for loc in locs)
            failures.append(Failure(row, ErrorCategory.VALIDATION, errors[:MAX_ERRORS_PER_ROW]))
    return failures


def _given_sku(group: ProductRows) -> str | None:
    first = group.rows[0].fields
    value = first.get("product_key") or first.get("sku")
    return str(value).strip()[:200] if _key(value) is not None else None


def sku_keys(products: Iterable[ProductRows]) -> set[str]:
    """Every SKU the rows name, lower-cased: product keys, row SKUs and the SKUs of nested variants."""
    keys: set[str] = set()
    for product in products:
        for row in product.rows:
            fields = row.fields
            for value in (fields.get("product_key"), fields.get("sku")):
                key = _key(value)
                if key is not None:
                    keys.add(key)
            variants = fields.get("variants")
            if isinstance(variants, list):
                keys.update(key for v in variants if isinstance(v, dict) and (key := _key(v.get("sku"))) is not None)
    return keys


def chunks(
    rows: Iterable[FeedRow], chunk_rows: int, max_product_rows: int = MAX_VARIANTS
) -> Iterator[list[ProductRows]]:
    """Cut rows into products, and products into chunks of about `chunk_rows` rows.

    A chunk never splits a product and holds each product at most once (a product given again later in the feed
    starts a new chunk), so a chunk transaction writes every product once. A product with more rows than it may
    have variants goes in pieces of `max_product_rows + 1`, each flagged `oversized` (they all fail), so memory
    stays bounded whatever the feed.
    """
    chunk: list[ProductRows] = []
    size = 0
    keys: set[str] = set()
    pending: list[FeedRow] = []
    pending_key: str | None = None
    oversized = False

    def products() -> Iterator[ProductRows]:
        nonlocal pending, pending_key, oversized
        for row in rows:
            key = parent_key(row)
            if pending and key is not None and key == pending_key:
                if len(pending) > max_product_rows:
                    oversized = True
                    yield ProductRows(tuple(pending), oversized=True)
                    pending = []
                pending.append(row)
                continue
            if pending:
                yield ProductRows(tuple(pending), oversized)
            pending, pending_key, oversized = [row], key, False
        if pending:
            yield ProductRows(tuple(pending), oversized)

    for product in products():
        key = product.key
        if chunk and (size >= chunk_rows or (key is not None and key in keys)):
            yield chunk
            chunk, size, keys = [], 0, set()
        chunk.append(product)
        size += len(product.rows)
        if key is not None:
            keys.add(key)
    if chunk:
        yield chunk
