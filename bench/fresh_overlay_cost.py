#!/usr/bin/env python
"""What the fresh-product overlay costs a search: `SearchIndex.search` on an existing index, in one process, with
no overlay, with an empty one (what every search pays when no product is fresh), and with 1 and 20 fresh products
pending (the index's answer without them, merged with the overlay's). The result cache is off, so every query is
computed; the variants take turns query by query, so a busy machine slows them alike.

    .venv/bin/python bench/fresh_overlay_cost.py --index .local/bench1m/search-index [--rounds 40]
"""

from __future__ import annotations

import argparse
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from process_stats import percentile

from catalog_indexer.adapters.search_index import FreshEntry, FreshOverlay, IndexedProduct, SearchIndex
from catalog_indexer.domain.search_query import SearchQuery

QUERIES = {
    "single word": SearchQuery(text="sweater"),
    "two words": SearchQuery(text="linen shirt"),
    "typo": SearchQuery(text="sweatr"),
    "broad": SearchQuery(text="cotton"),
    "browse": SearchQuery(text=None),
}


def fresh(n: int) -> IndexedProduct:
    return IndexedProduct(
        product_id=str(uuid.uuid4()),
        sku=f"FRESH-{n}",
        skus=(),
        name=f"Linen shirt fresh {n}",
        brand="Tidewater",
        description="A fresh product",
        price=49.0 + n,
        price_text=f"{49 + n}.00",
        currency="EUR",
        status="active",
        created_at=datetime.now(UTC),
        core_version=1,
        enrichment_version=0,
        enrichment_degraded=False,
        keywords=(),
        category="apparel/tops/shirts",
        completeness=None,
        thumbnail_url=None,
    )


def overlay(products: int, position: int) -> FreshOverlay:
    held = FreshOverlay()
    entries = {p.product_id: FreshEntry(position + 1 + n, p) for n, p in enumerate(fresh(n) for n in range(products))}
    held.replace(entries, position)
    return held


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", type=Path, required=True, help="a SEARCH_INDEX_DIR with a published generation")
    parser.add_argument("--rounds", type=int, default=40)
    args = parser.parse_args()
    position = SearchIndex(args.index).position()
    variants = {
        "no overlay": SearchIndex(args.index, cache_size=0),
        "empty overlay": SearchIndex(args.index, cache_size=0, fresh=FreshOverlay()),
        "1 fresh pending": SearchIndex(args.index, cache_size=0, fresh=overlay(1, position)),
        "20 fresh pending": SearchIndex(args.index, cache_size=0, fresh=overlay(20, position)),
    }
    times: dict[tuple[str, str], list[float]] = {}
    for index in variants.values():  # warm: files mapped, first reload done
        for query in QUERIES.values():
            index.search(query)
    for _ in range(args.rounds):
        for kind, query in QUERIES.items():
            for name, index in variants.items():
                started = time.perf_counter()
                index.search(query)
                times.setdefault((name, kind), []).append(time.perf_counter() - started)
    print(f"{args.index}: position {position:,}, {args.rounds} rounds, cache off; p50 / p99 ms")
    print(f"| query | {' | '.join(variants)} |")
    print(f"|---|{'---|' * len(variants)}")
    for kind in QUERIES:
        cells = []
        for name in variants:
            values = sorted(times[(name, kind)])
            cells.append(f"{percentile(values, 50) * 1000:.1f} / {percentile(values, 99) * 1000:.1f}")
        print(f"| {kind} | {' | '.join(cells)} |")


if __name__ == "__main__":
    main()
