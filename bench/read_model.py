#!/usr/bin/env python
"""Read-model write benchmark: `SearchDocuments.apply_many` in batches against `apply` one part at a time.

What is measured, in a scratch database `catalog_bench_read_model_<run>` on the stack's PostgreSQL (dropped at the
end), with the products of `bench/search.py`'s seeded generator (names, brands, descriptions, variants, the
enricher's real keywords and categories):

1. Base (timed, not the result): `--base` products (core + enrichment parts) so the indexes are not empty, written
   through `apply_many` in batches of 5,000, then `VACUUM (ANALYZE)`.
2. Batches: `--batches` batches of `--batch-size` parts each through `apply_many`, one transaction per batch, in
   three phases over the same new products: created (core parts), updated (core parts of the next version, new
   price), enriched (enrichment parts of that version). Printed per phase: ms per batch p50 / p99 and documents/s.
3. Baseline in the same run: `--baseline-parts` other products through `apply`, one part per transaction (what
   the indexer did per event), in the same three phases: parts/s.
4. The search index: a new generation built from the scratch read model by `IndexFollower.rebuild` (what the
   indexer does on a first start and `catalog-search reindex` on demand), in commits of `--index-chunk` rows:
   rows/s; then the follower applies the updates of `--batches` more batches of core parts (`catch_up`): rows/s.

`--breakdown` first builds the database at revision s0002 (per-row trigger, GIN `fastupdate = off`), loads the base
with COPY through that trigger, and times one 1,000-row `INSERT ... SELECT` into it per variant (trigger, no
lexicon upsert, derived columns in the statement, without each GIN index, pending lists...), each in a transaction
that is rolled back so every variant starts from the same table; then it upgrades to the newest revision in place
(timed) and goes on as above.

    export CATALOG_STACK_DIR=$PWD/.local/bench CATALOG_PG_PORT=55435
    .venv/bin/catalog-stack run     # or only its PostgreSQL
    .venv/bin/python bench/read_model.py [--batches 10] [--batch-size 1000] [--base 20000] [--baseline-parts 1000]
                                         [--breakdown]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import random
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
from search import build_parts, ms
from sqlalchemy import text
from stack_access import scratch_database

from catalog_enricher.domain.taxonomy import Taxonomy
from catalog_indexer.adapters import migrations
from catalog_indexer.adapters.read_model import SearchDocuments
from catalog_indexer.adapters.search_index import IndexGenerations
from catalog_indexer.domain.document import CorePart, DocumentPart, EnrichmentPart
from catalog_indexer.service_layer.index_follower import IndexFollower
from catalog_kit.db import make_engine

GIN_INDEXES = ("documents_fulltext", "documents_fuzzy", "documents_skus")
Products = list[tuple[CorePart, EnrichmentPart | None]]


# --- the parts -----------------------------------------------------------------------------------------------------


def updated(core: CorePart, rng: random.Random) -> CorePart:
    """The next version of a product: a new price, as most updates are."""
    price = max(Decimal("0.99"), (core.price * Decimal(str(rng.uniform(0.8, 1.2)))).quantize(Decimal("0.01")))
    return dataclasses.replace(core, version=core.version + 1, price=price, price_text=str(price))


def enrichment_of(core: CorePart, enrichment: EnrichmentPart | None) -> EnrichmentPart:
    """The enrichment computed from `core`'s version."""
    if enrichment is None:
        return EnrichmentPart(core.product_id, core.version, (), None, core.sku.lower(), "mid", 0.5)
    return dataclasses.replace(enrichment, version=core.version)


def phases(products: Products, rng: random.Random) -> dict[str, list[DocumentPart]]:
    """The created, updated and enriched parts of `products`, in that order."""
    updates = [updated(core, rng) for core, _ in products]
    return {
        "created": [core for core, _ in products],
        "updated": list(updates),
        "enriched": [enrichment_of(core, e) for core, (_, e) in zip(updates, products, strict=True)],
    }


# --- the breakdown of the old design -------------------------------------------------------------------------------

# The columns the old per-row trigger derived the search columns from, as the upserts wrote them.
COPY_COLUMNS = (
    "product_id, core_version, deleted, sku, skus, name, brand, description, price, price_text, currency, status, "
    "created_at, updated_at, enrichment_version, keywords, category, slug, price_band, completeness"
)


def copy_row(core: CorePart, enrichment: EnrichmentPart | None) -> tuple[Any, ...]:
    fields: tuple[Any, ...] = (0, [], None, None, None, None)
    if enrichment is not None:
        e = enrichment
        fields = (e.version, list(e.keywords), e.category, e.slug, e.price_band, e.completeness)
    return (
        core.product_id,
        core.version,
        False,
        core.sku,
        list(core.skus),
        core.name,
        core.brand,
        core.description,
        core.price,
        core.price_text,
        core.currency,
        core.status,
        core.created_at,
        core.updated_at,
        *fields,
    )


_DERIVED = """setweight(to_tsvector('simple', search.fold(name)), 'A') ||
    setweight(to_tsvector('simple', search.fold(brand)), 'A') ||
    setweight(to_tsvector('simple', search.fold(array_to_string(keywords, ' '))), 'B') ||
    setweight(to_tsvector('simple', search.fold(replace(category, '/', ' '))), 'B') ||
    setweight(to_tsvector('simple', search.fold(description)), 'C'),
    search.fold(concat_ws(' ', name, brand)), now()"""
_NO_TRIGGER = "ALTER TABLE search.documents DISABLE TRIGGER documents_derive"
_SET_LEXICON = """INSERT INTO search.lexicon (word) SELECT DISTINCT w FROM stage,
    regexp_split_to_table(search.fold(concat_ws(' ', name, brand)), '[^[:alnum:]]+') AS w
    WHERE length(w) >= 3 ORDER BY w ON CONFLICT DO NOTHING"""
_TRIGGER_WITHOUT_LEXICON = """CREATE OR REPLACE FUNCTION search.derive_document() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.document :=
        setweight(to_tsvector('simple', search.fold(NEW.name)), 'A') ||
        setweight(to_tsvector('simple', search.fold(NEW.brand)), 'A') ||
        setweight(to_tsvector('simple', search.fold(array_to_string(NEW.keywords, ' '))), 'B') ||
        setweight(to_tsvector('simple', search.fold(replace(NEW.category, '/', ' '))), 'B') ||
        setweight(to_tsvector('simple', search.fold(NEW.description)), 'C');
    NEW.fuzzy := search.fold(concat_ws(' ', NEW.name, NEW.brand));
    NEW.indexed_at := now();
    RETURN NEW;
END $$"""
_PLAIN = f"INSERT INTO search.documents ({COPY_COLUMNS}) SELECT {COPY_COLUMNS} FROM stage"
_WITH_DERIVED = (
    f"INSERT INTO search.documents ({COPY_COLUMNS}, document, fuzzy, indexed_at) SELECT {COPY_COLUMNS}, {_DERIVED} "
    "FROM stage"
)


def _drop(*indexes: str) -> list[str]:
    return [_NO_TRIGGER, *(f"DROP INDEX search.{i}" for i in indexes)]


def _gin(options: str) -> list[str]:
    return [_NO_TRIGGER, *(f"ALTER INDEX search.{i} SET ({options})" for i in GIN_INDEXES)]


# name: (set-up statements, timed statements)
BREAKDOWN: dict[str, tuple[list[str], list[str]]] = {
    "s0002: per-row trigger (tsvector, fuzzy, lexicon upsert), GIN fastupdate=off": ([], [_PLAIN]),
    "trigger without its lexicon upsert": ([_TRIGGER_WITHOUT_LEXICON], [_PLAIN]),
    "no trigger: columns derived in the INSERT ... SELECT": ([_NO_TRIGGER], [_WITH_DERIVED]),
    "  + lexicon set-based, once per batch": ([_NO_TRIGGER], [_WITH_DERIVED, _SET_LEXICON]),
    "  without documents_fulltext": (_drop("documents_fulltext"), [_WITH_DERIVED]),
    "  without documents_fuzzy (trigrams)": (_drop("documents_fuzzy"), [_WITH_DERIVED]),
    "  without documents_skus": (_drop("documents_skus"), [_WITH_DERIVED]),
    "  without any GIN index": (_drop(*GIN_INDEXES), [_WITH_DERIVED]),
    "  GIN fastupdate=on, 4 MB lists (not merged here)": (_gin("fastupdate = on"), [_WITH_DERIVED]),
    "  GIN fastupdate=on + gin_clean_pending_list each": (
        _gin("fastupdate = on"),
        [_WITH_DERIVED, *(f"SELECT gin_clean_pending_list('search.{i}'::regclass)" for i in GIN_INDEXES)],
    ),
    "  GIN fastupdate=on, gin_pending_list_limit=256kB": (
        _gin("fastupdate = on, gin_pending_list_limit = 256"),
        [_WITH_DERIVED],
    ),
    "no trigger, nothing derived, no GIN (heap + b-trees)": (_drop(*GIN_INDEXES), [_PLAIN]),
}


def breakdown(conninfo: str, products: Products, repeats: int) -> None:
    """Time each variant on `repeats` batches of 1,000 rows; every variant is rolled back."""
    results: dict[str, list[tuple[float, float]]] = {}
    with psycopg.connect(conninfo, application_name="bench-read-model-breakdown") as conn:
        for i in range(repeats):
            batch = products[i * 1000 : (i + 1) * 1000]
            for name, (setup, timed) in BREAKDOWN.items():
                conn.execute("CREATE TEMP TABLE stage (LIKE search.documents INCLUDING DEFAULTS) ON COMMIT DROP")
                with conn.cursor() as cur, cur.copy(f"COPY stage ({COPY_COLUMNS}) FROM STDIN") as copy:
                    for core, enrichment in batch:
                        copy.write_row(copy_row(core, enrichment))
                for statement in setup:
                    conn.execute(statement)
                lsn = one(conn, "SELECT pg_current_wal_insert_lsn()::text")
                started = time.perf_counter()
                for statement in timed:
                    conn.execute(statement)
                elapsed = time.perf_counter() - started
                wal = float(str(one(conn, "SELECT pg_current_wal_insert_lsn() - %s::pg_lsn", (lsn,))))
                conn.rollback()
                results.setdefault(name, []).append((elapsed, wal))
    print(f"\nWhere the time of s0002 goes: one 1,000-row INSERT ... SELECT, median of {repeats}, rolled back:")
    for name, timings in results.items():
        elapsed = statistics.median(t for t, _ in timings)
        wal = statistics.median(w for _, w in timings)
        print(f"  {name:<78} {elapsed * 1000:6.0f} ms {1000 / elapsed:8.0f} rows/s  WAL {wal / 1e6:5.1f} MB")


def copy_base(conninfo: str, products: Products) -> float:
    with psycopg.connect(conninfo, application_name="bench-read-model-base") as conn:
        started = time.perf_counter()
        with conn.cursor() as cur, cur.copy(f"COPY search.documents ({COPY_COLUMNS}) FROM STDIN") as copy:
            for core, enrichment in products:
                copy.write_row(copy_row(core, enrichment))
        conn.commit()
        return time.perf_counter() - started


# --- writing -------------------------------------------------------------------------------------------------------


@dataclasses.dataclass
class Phase:
    batch_s: list[float]
    documents: int

    @property
    def rate(self) -> float:
        return self.documents / sum(self.batch_s) if self.batch_s else 0.0


def write_batches(documents: SearchDocuments, parts: Sequence[DocumentPart], size: int) -> Phase:
    phase = Phase([], 0)
    for offset in range(0, len(parts), size):
        started = time.perf_counter()
        phase.documents += documents.apply_many(parts[offset : offset + size])
        phase.batch_s.append(time.perf_counter() - started)
    return phase


def write_one_by_one(documents: SearchDocuments, parts: Sequence[DocumentPart]) -> Phase:
    started = time.perf_counter()
    changed = sum(documents.apply(part) for part in parts)
    return Phase([time.perf_counter() - started], changed)


# --- searching -----------------------------------------------------------------------------------------------------


def one(conn: psycopg.Connection[tuple[object, ...]], sql: str, params: Sequence[object] = ()) -> object:
    row = conn.execute(sql, params).fetchone()
    return None if row is None else row[0]


def timed(what: str, action: Callable[[], object]) -> None:
    started = time.perf_counter()
    action()
    print(f"  {what}: {time.perf_counter() - started:.1f} s", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batches", type=int, default=10, help="measured batches per phase (default 10)")
    parser.add_argument("--batch-size", type=int, default=1000, help="parts per batch (default 1000)")
    parser.add_argument("--base", type=int, default=20_000, help="products written before measuring")
    parser.add_argument("--baseline-parts", type=int, default=1000, help="parts per phase through apply()")
    parser.add_argument("--breakdown", action="store_true", help="first time the old design's parts (s0002)")
    parser.add_argument("--index-chunk", type=int, default=2000, help="read-model rows per search index commit")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    if not 1 <= args.batches <= 1000 or not 1 <= args.batch_size <= 50_000 or not 0 <= args.base <= 1_000_000:
        parser.error("bounds: 1 <= --batches <= 1000, 1 <= --batch-size <= 5e4, 0 <= --base <= 1e6")
    if not 1 <= args.baseline_parts <= 100_000:
        parser.error("bounds: 1 <= --baseline-parts <= 1e5")

    scratch = scratch_database("catalog_bench_read_model")
    run, name, scratch_url, conninfo = scratch.name.rpartition("_")[2], scratch.name, scratch.url, scratch.conninfo
    rng = random.Random(args.seed)
    measured = args.batches * args.batch_size
    repeats = 3 if args.breakdown else 0
    started = time.perf_counter()
    everything, _ = build_parts(
        rng, f"RM{run}", args.base + 2 * measured + args.baseline_parts + repeats * 1000, Taxonomy.default()
    )
    base, everything = everything[: args.base], everything[args.base :]
    batched, everything = everything[:measured], everything[measured:]
    more, everything = everything[:measured], everything[measured:]
    one_by_one, rolled_back = everything[: args.baseline_parts], everything[args.baseline_parts :]
    print(f"run {run}: database {name}, {os.cpu_count()} CPUs; generated in {time.perf_counter() - started:.1f} s")

    scratch.create()
    engine = make_engine(scratch_url, 2)
    try:
        with psycopg.connect(conninfo, autocommit=True) as conn:
            conn.execute("CREATE EXTENSION pgstattuple")
        documents = SearchDocuments(engine)
        if args.breakdown:
            migrations.upgrade(scratch_url, "s0002")
            copy_s = copy_base(conninfo, base)
            print(f"  base: {len(base)} products by COPY through the s0002 trigger: {len(base) / copy_s:.0f} rows/s")
            with psycopg.connect(conninfo, autocommit=True) as conn:
                conn.execute("VACUUM (ANALYZE) search.documents")
            breakdown(conninfo, rolled_back, repeats)
            timed("\nupgrade to the newest revision in place", lambda: migrations.upgrade(scratch_url))
        else:
            migrations.upgrade(scratch_url)
            base_parts = [p for core, e in base for p in (core, e) if p is not None]
            started = time.perf_counter()
            write_batches(documents, base_parts, 5000)
            elapsed = time.perf_counter() - started
            print(
                f"  base: {len(base)} products ({len(base_parts)} parts) by apply_many: "
                f"{len(base_parts) / elapsed:.0f} parts/s"
            )
        with psycopg.connect(conninfo, autocommit=True) as conn:
            conn.execute("VACUUM (ANALYZE) search.documents")

        results: dict[str, tuple[Phase, Phase]] = {}
        baseline_phases = phases(one_by_one, rng)
        for phase, parts in phases(batched, rng).items():
            results[phase] = (
                write_batches(documents, parts, args.batch_size),
                write_one_by_one(documents, baseline_phases[phase]),
            )
            print(f"  {phase}: done", flush=True)
        print(f"\nWriting {args.batches} batches of {args.batch_size} parts per phase onto {args.base:,} products:")
        header = (
            f"{'phase':<10}{'batch p50 ms':>14}{'batch p99 ms':>14}{'apply_many docs/s':>19}{'apply() parts/s':>17}"
        )
        print(header)
        print("-" * len(header))
        for phase, (batch, single) in results.items():
            print(
                f"{phase:<10}{ms(batch.batch_s, 50):>14}{ms(batch.batch_s, 99):>14}"
                f"{batch.rate:>19.0f}{single.rate:>17.0f}"
            )

        with tempfile.TemporaryDirectory(prefix="bench-search-index-") as directory:
            follower = IndexFollower(documents, IndexGenerations(Path(directory)), chunk=args.index_chunk)
            with engine.connect() as conn:
                rows = int(conn.execute(text("SELECT count(*) FROM search.documents")).scalar_one())
            started = time.perf_counter()
            follower.rebuild()
            rebuilt_s = time.perf_counter() - started
            follower.catch_up()  # opens the published generation
            grown = write_batches(documents, [core for core, _ in more], args.batch_size)
            started = time.perf_counter()
            applied = follower.catch_up()
            caught_up_s = time.perf_counter() - started
            assert follower.writer is not None
            follower.writer.close()
        print(f"\nSearch index, commits of {args.index_chunk} rows:")
        print(f"  rebuild from the read model ({rows:,} rows): {rebuilt_s:.1f} s = {rows / rebuilt_s:,.0f} rows/s")
        print(
            f"  following {len(more):,} updated documents ({grown.rate:,.0f} docs/s into the read model): "
            f"{applied:,} rows in {caught_up_s:.1f} s = {applied / caught_up_s:,.0f} rows/s"
        )
    finally:
        engine.dispose()
        scratch.drop()
        print(f"\ndropped {name}")


if __name__ == "__main__":
    main()
