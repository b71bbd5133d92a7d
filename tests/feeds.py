"""Supplier feeds for import tests: blocks of 20 rows with one bad row each, and what the catalog should hold.

A block has 4 products of 3 variant rows (`product_key`) and 8 single-row products. Block `b` spoils one row,
the kind chosen by `b % 5`:

0. VALIDATION — a price with 3 decimals (fixed in the corrected feed);
1. PARSE — invalid UTF-8 in a name (fixed in the corrected feed);
2. DUPLICATE — a SKU that a product outside the feed holds as a variant (fixed by deleting that product);
3. REFERENCE — a variant row for a product that is not in the catalog yet (fixed by creating it);
4. VALIDATION — a negative stock in a variant row; its 2 sibling rows are skipped (fixed in the corrected feed).
"""

import csv
import io
import json
from dataclasses import dataclass, field
from typing import Any

COLUMNS = ["product_key", "sku", "name", "brand", "price", "currency", "stock", "option:size", "attr:material"]
BLOCK = 20
SIZES = ("S", "M", "L")
_BAD_UTF8 = "\u2063BAD\u2063"  # replaced by an invalid byte sequence when encoded


@dataclass
class SupplierFeed:
    prefix: str
    brand: str
    blocks: int
    rows: list[dict[str, str]] = field(default_factory=list)
    fixed_rows: list[dict[str, str]] = field(default_factory=list)
    bad: dict[int, str] = field(default_factory=dict)  # row number -> error category
    skipped: set[int] = field(default_factory=set)
    taken_skus: list[str] = field(default_factory=list)  # held by `owner_of(sku)` products, created beforehand
    missing_products: list[str] = field(default_factory=list)  # to create before the retry, with `brand`
    product_skus: set[str] = field(default_factory=set)  # products with `brand` once everything imported

    def csv(self, *, fixed: bool = False) -> bytes:
        out = io.StringIO()
        writer = csv.DictWriter(out, COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(self.fixed_rows if fixed else self.rows)
        return out.getvalue().encode().replace(_BAD_UTF8.encode(), b"\xff\xfe")

    def jsonl(self, *, fixed: bool = False) -> bytes:
        lines = []
        for row in self.fixed_rows if fixed else self.rows:
            obj: dict[str, Any] = {k: v for k, v in row.items() if v and ":" not in k}
            if row.get("option:size"):
                obj["options"] = {"size": row["option:size"]}
            if row.get("attr:material"):
                obj["attributes"] = {"material": row["attr:material"]}
            lines.append(json.dumps(obj, ensure_ascii=False))
        return ("\n".join(lines) + "\n").encode().replace(_BAD_UTF8.encode(), b"\xff\xfe")


def supplier_feed(prefix: str, brand: str, rows: int) -> SupplierFeed:
    assert rows % BLOCK == 0
    feed = SupplierFeed(prefix, brand, rows // BLOCK)
    for b in range(feed.blocks):
        base = b * BLOCK
        block: list[dict[str, str]] = []
        for g in range(4):
            key = f"{prefix}-P{b}-{g}"
            feed.product_skus.add(key)
            for v, size in enumerate(SIZES):
                row = {"product_key": key, "sku": f"{key}-{size}", "stock": "2", "option:size": size}
                if v == 0:
                    row |= {"name": f"Tee {b}-{g}", "brand": brand, "price": "19.90", "currency": "EUR"}
                    row["attr:material"] = "linen"
                block.append(row)
        for i in range(8):
            sku = f"{prefix}-S{b}-{i}"
            feed.product_skus.add(sku)
            block.append({"sku": sku, "name": f"Mug {b}-{i}", "brand": brand, "price": "8.50", "currency": "EUR"})
        fixed = [dict(r) for r in block]
        kind = b % 5
        if kind == 0:
            block[12]["price"] = "12.345"
            feed.bad[base + 13] = "VALIDATION"
        elif kind == 1:
            block[13]["name"] = f"Mug {_BAD_UTF8}"
            feed.bad[base + 14] = "PARSE"
        elif kind == 2:
            taken = f"{prefix}-TAKEN-{b}"
            feed.product_skus.discard(block[14]["sku"])
            block[14]["sku"] = fixed[14]["sku"] = taken
            feed.product_skus.add(taken)
            feed.taken_skus.append(taken)
            feed.bad[base + 15] = "DUPLICATE"
        elif kind == 3:
            key = f"{prefix}-EXT-{b}"
            feed.product_skus.discard(block[15]["sku"])
            block[15] = fixed[15] = {"product_key": key, "sku": f"{key}-XL", "option:size": "XL", "stock": "1"}
            feed.product_skus.add(key)
            feed.missing_products.append(key)
            feed.bad[base + 16] = "REFERENCE"
        else:
            block[1]["stock"] = "-1"
            feed.bad[base + 2] = "VALIDATION"
            feed.skipped |= {base + 1, base + 3}
        feed.rows += block
        feed.fixed_rows += fixed
    return feed


def owner_of(taken_sku: str) -> dict[str, Any]:
    """A product outside the feed (another brand) that holds `taken_sku` as a variant."""
    return product_body(
        f"{taken_sku}-OWNER", "Other", variants=[{"sku": taken_sku, "options": {"size": "S"}, "stock": 1}]
    )


def product_body(sku: str, brand: str, **changes: Any) -> dict[str, Any]:
    """A product as POST /products takes it (for SKUs the feed refers to)."""
    return {
        "sku": sku,
        "name": f"Product {sku}",
        "brand": brand,
        "price": "5.00",
        "currency": "EUR",
        "variants": [{"sku": f"{sku}-S", "options": {"size": "S"}, "stock": 1}],
        **changes,
    }
