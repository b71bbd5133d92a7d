#!/usr/bin/env python
"""What the lineage timestamps cost the indexer's batch path: its core and enrichment statements with and without
`core_indexed_at` / `enrichment_indexed_at`, interleaved in one database so that load on the box hits both alike.

In a scratch database `catalog_bench_lineage_<run>` on the stack's PostgreSQL (dropped at the end): `--base`
products (core + enrichment parts) through `apply_many`, then `--rounds` rounds; each round writes two fresh
batches of `--batch-size` new products, one through the statements as they are and one through the same statements
with the lineage columns taken out (alternating which goes first), core parts then enrichment parts, each batch one
committed transaction. Printed per statement: ms per batch p50 and mean for both, and the median of the paired
differences.

    export CATALOG_STACK_DIR=$PWD/.local/bench CATALOG_PG_PORT=55435
    .venv/bin/catalog-stack up      # PostgreSQL (and the broker, unused here)
    .venv/bin/python bench/lineage_cost.py [--rounds 20] [--batch-size 500] [--base 10000]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time
from typing import Any

from search import build_parts
from sqlalchemy import Engine, TextClause, text
from stack_access import scratch_database

from catalog_enricher.domain.taxonomy import Taxonomy
from catalog_indexer.adapters import migrations, read_model
from catalog_indexer.adapters.read_model import SearchDocuments
from catalog_indexer.domain.document import CorePart, EnrichmentPart
from catalog_kit.db import make_engine


def without_lineage(statement: TextClause, column: str, insert_list: str) -> TextClause:
    """The statement as it was before the lineage column: the column neither inserted nor set."""
    sql = statement.text
    edits = [
        (insert_list, insert_list.replace(f", {column}", "").replace(f",\n     {column}", "")),
        ("stamp, stamp", "stamp"),
        (f", {column} = EXCLUDED.{column}", ""),
    ]
    for old, new in edits:
        if old not in sql:
            raise SystemExit(f"statement changed: {old!r} not found; update this benchmark")
        sql = sql.replace(old, new)
    return text(sql)


CORE = read_model._CORE
ENRICHMENT = read_model._ENRICHMENT
CORE_BEFORE = without_lineage(CORE, "core_indexed_at", "indexed_at, core_indexed_at)")
ENRICHMENT_BEFORE = without_lineage(ENRICHMENT, "enrichment_indexed_at", "indexed_at,\n     enrichment_indexed_at)")


def timed_batch(engine: Engine, statement: TextClause, rows: list[dict[str, Any]]) -> float:
    started = time.perf_counter()
    with engine.begin() as conn:
        conn.execute(statement, {"parts": json.dumps(rows, default=str)})
    return (time.perf_counter() - started) * 1000


def core_rows(parts: list[CorePart]) -> list[dict[str, Any]]:
    return [{**vars(p), "skus": list(p.skus), "price": str(p.price)} for p in parts]


def enrichment_rows(parts: list[EnrichmentPart]) -> list[dict[str, Any]]:
    return [{**vars(p), "keywords": list(p.keywords)} for p in parts]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--base", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args()
    if not 1 <= args.rounds <= 500 or not 1 <= args.batch_size <= 10_000 or not 0 <= args.base <= 200_000:
        parser.error("bounds: 1 <= --rounds <= 500, 1 <= --batch-size <= 1e4, 0 <= --base <= 2e5")

    scratch = scratch_database("catalog_bench_lineage")
    run = scratch.name.rpartition("_")[2]
    products, _ = build_parts(
        random.Random(args.seed), f"LC{run}", args.base + 2 * args.rounds * args.batch_size, Taxonomy.default()
    )
    base, fresh = products[: args.base], products[args.base :]
    scratch.create()
    engine = make_engine(scratch.url, 2)
    try:
        migrations.upgrade(scratch.url)
        documents = SearchDocuments(engine)
        base_parts = [p for core, e in base for p in (core, e) if p is not None]
        for start in range(0, len(base_parts), 5000):
            documents.apply_many(base_parts[start : start + 5000])
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM (ANALYZE) search.documents"))
        times: dict[str, list[float]] = {k: [] for k in ("core", "core_before", "enr", "enr_before")}
        for n in range(args.rounds):
            batches = [fresh[(2 * n + i) * args.batch_size : (2 * n + i + 1) * args.batch_size] for i in (0, 1)]
            variants = [("", CORE, ENRICHMENT), ("_before", CORE_BEFORE, ENRICHMENT_BEFORE)]
            if n % 2:
                variants.reverse()
            for (suffix, core, enrichment), batch in zip(variants, batches, strict=True):
                times["core" + suffix].append(timed_batch(engine, core, core_rows([c for c, _ in batch])))
                enriched = [e for _, e in batch if e is not None]
                times["enr" + suffix].append(timed_batch(engine, enrichment, enrichment_rows(enriched)))
        print(f"run {run}: {args.rounds} rounds of 2 x {args.batch_size} new products on {args.base} (ms per batch)")
        heads = (("statement", 12), ("with p50", 10), ("with mean", 11), ("without p50", 13), ("without mean", 14))
        print("".join(f"{h:<{w}}" if i == 0 else f"{h:>{w}}" for i, (h, w) in enumerate(heads)) + "  paired diff p50")
        for label, key in (("core", "core"), ("enrichment", "enr")):
            with_, without = times[key], times[key + "_before"]
            diff = statistics.median(a - b for a, b in zip(with_, without, strict=True))
            print(
                f"{label:<12}{statistics.median(with_):>10.1f}{statistics.fmean(with_):>11.1f}"
                f"{statistics.median(without):>13.1f}{statistics.fmean(without):>14.1f}{diff:>+18.1f}"
            )
    finally:
        engine.dispose()
        scratch.drop()


if __name__ == "__main__":
    main()
