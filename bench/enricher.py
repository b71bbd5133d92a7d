#!/usr/bin/env python
"""Enricher benchmark: products/s of `Enricher.handle_batch` over a pre-filled backlog, beside one-at-a-time `handle`.

What is measured, in one run against a stack's PostgreSQL (nothing of its catalog is touched):

1. Set-up (not timed as a result): a scratch database `catalog_bench_enricher_<run>` on the same server, migrated
   with every owner's chain (`catalog_stack.infra.migrate`). `--products` generated products (the search
   benchmark's generator: eight domains, brands, model names, descriptions, attributes, images, ~10% with 1-4
   variants; all at version 1) are loaded with `COPY` into `products` and `variants`, then `ANALYZE`. Their
   `product.created` envelopes (the product snapshot as data, bulk lane, as an import's events travel) are built
   in memory.
2. Breakdown (`--sample` products, one at a time, each stage timed on its own): decoding the snapshot into facts,
   the provider lookup (`ResilientProvider` over `LocalProvider`, as the worker wires it), the rules (`enrich`), the
   event JSON (`to_event_data` + `json.dumps`), and the guarded save (`EnrichmentStore.save`: one transaction, three
   statements). Printed as µs per product.
3. Baseline: `Enricher.handle(event)` for another `--sample` products, one event after the other.
4. Batches: `Enricher.handle_batch` over the remaining products' events in batches of `--batch-size`, one after the
   other, as a processor would hand them over from a pre-filled partition: products/s overall and ms per batch
   p50/p99.

Logging is configured as the worker's (JSON lines at INFO) but written to /dev/null, so its cost is counted.
Every stored enrichment and outbox row is counted at the end; the scratch database is dropped.

    export CATALOG_STACK_DIR=$PWD/.local/bench   # plus CATALOG_PG_PORT etc. when that stack uses other ports
    .venv/bin/catalog-stack up
    .venv/bin/python bench/enricher.py [--products 20000] [--batch-size 500] [--sample 1000]
    .venv/bin/catalog-stack stop
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import logging
import os
import random
import statistics
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import psycopg
from process_stats import percentile
from search import snapshot
from sqlalchemy.engine import make_url
from stack_access import scratch_database

from catalog_enricher.adapters.catalog_store import EnrichmentStore
from catalog_enricher.adapters.provider import LocalProvider, ResilientProvider
from catalog_enricher.domain.facts import ProductFacts
from catalog_enricher.domain.rules import enrich
from catalog_enricher.domain.taxonomy import Taxonomy
from catalog_enricher.service_layer.enrichment import Enricher
from catalog_kit.db import make_engine, make_session_factory
from catalog_kit.envelope import EventEnvelope
from catalog_kit.jsonlog import JsonFormatter
from catalog_kit.outbox import OutboxWriter
from catalog_schemas import Lane
from catalog_stack.infra import migrate

SOURCE = "/catalog/enricher"

PRODUCT_COLUMNS = (
    "id, sku, name, brand, description, price, currency, stock, attributes, images, status, version, created_at, "
    "updated_at"
)
VARIANT_COLUMNS = "id, product_id, position, sku, options, price, stock"


def generate(count: int, seed: int, run: str) -> list[dict[str, Any]]:
    """`count` product snapshots at version 1, as `product.created` carries them."""
    rng = random.Random(seed)
    now = datetime.now(UTC)
    products = []
    for n in range(count):
        data = snapshot(rng, f"EB{run}", n, now)
        data["version"] = 1
        data["updated_at"] = data["created_at"]
        for variant in data["variants"]:
            variant["id"] = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        products.append(data)
    return products


def load(conninfo: str, products: Sequence[dict[str, Any]]) -> float:
    """COPY the products and their variants into the scratch database; returns the seconds it took."""
    started = time.perf_counter()
    with psycopg.connect(conninfo) as conn:
        with conn.cursor() as cur, cur.copy(f"COPY products ({PRODUCT_COLUMNS}) FROM STDIN") as copy:
            for p in products:
                copy.write_row(
                    (
                        p["id"],
                        p["sku"],
                        p["name"],
                        p["brand"],
                        p["description"],
                        p["price"],
                        p["currency"],
                        p["stock"],
                        json.dumps(p["attributes"]),
                        json.dumps(p["images"]),
                        p["status"],
                        p["version"],
                        p["created_at"],
                        p["updated_at"],
                    )
                )
        with conn.cursor() as cur, cur.copy(f"COPY variants ({VARIANT_COLUMNS}) FROM STDIN") as copy:
            for p in products:
                for position, v in enumerate(p["variants"]):
                    copy.write_row(
                        (v["id"], p["id"], position, v["sku"], json.dumps(v["options"]), v["price"], v["stock"])
                    )
        conn.commit()
        conn.autocommit = True
        conn.execute("ANALYZE products")
        conn.execute("ANALYZE variants")
    return time.perf_counter() - started


def envelope(data: dict[str, Any]) -> EventEnvelope:
    return EventEnvelope(
        type="product.created", source="/catalog/importer", subject=data["id"], data=data, lane=Lane.BULK
    )


async def breakdown(
    store: EnrichmentStore, provider: ResilientProvider, taxonomy: Taxonomy, events: Sequence[EventEnvelope]
) -> dict[str, float]:
    """Seconds spent per stage over `events`, each product handled one at a time as `handle` does."""
    spent = dict.fromkeys(("facts", "provider", "rules", "event json", "save (sql)"), 0.0)
    for event in events:
        started = time.perf_counter()
        facts = ProductFacts.from_snapshot(event.data)
        spent["facts"] += time.perf_counter() - started
        started = time.perf_counter()
        keywords = (await provider.lookup(facts)).keywords
        spent["provider"] += time.perf_counter() - started
        started = time.perf_counter()
        result = enrich(facts, taxonomy, keywords)
        spent["rules"] += time.perf_counter() - started
        started = time.perf_counter()
        json.dumps(result.to_event_data())
        spent["event json"] += time.perf_counter() - started
        started = time.perf_counter()
        store.save(result)
        spent["save (sql)"] += time.perf_counter() - started
    return spent


def counts(conninfo: str) -> tuple[int, int, int]:
    """Stored enrichments, product.enriched outbox rows, and how many of those are in the bulk lane."""
    with psycopg.connect(conninfo) as conn:
        row = conn.execute(
            "SELECT (SELECT count(*) FROM product_enrichment), count(*), count(*) FILTER (WHERE lane = 1) "
            "FROM outbox WHERE event_type = 'product.enriched'"
        ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1]), int(row[2])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--products", type=int, default=20_000, help="products in the batched backlog")
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--sample", type=int, default=1000, help="products for the breakdown and for the baseline")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    if not 1 <= args.products <= 1_000_000 or not 1 <= args.batch_size <= 10_000 or not 1 <= args.sample <= 100_000:
        parser.error("bounds: 1 <= --products <= 1e6, 1 <= --batch-size <= 1e4, 1 <= --sample <= 1e5")

    scratch = scratch_database("catalog_bench_enricher")
    run, name, scratch_url, conninfo = scratch.name.rpartition("_")[2], scratch.name, scratch.url, scratch.conninfo

    # As the worker logs (JSON lines at INFO), to a sink: the cost of formatting counts, the terminal stays quiet.
    sink = logging.StreamHandler(io.TextIOWrapper(open(os.devnull, "wb")))  # noqa: SIM115 - lives for the run
    sink.setFormatter(JsonFormatter("enricher"))
    logging.getLogger().handlers[:] = [sink]
    logging.getLogger().setLevel(logging.INFO)

    total = args.products + 2 * args.sample
    server = make_url(scratch_url)
    print(f"run {run}: database {name} on {server.host}:{server.port}, {os.cpu_count()} CPUs")
    scratch.create()
    engine = None
    try:
        migrate(scratch_url)
        products = generate(total, args.seed, run)
        loaded_s = load(conninfo, products)
        print(f"  seeded {total} products ({sum(len(p['variants']) for p in products)} variants) in {loaded_s:.1f} s")
        events = [envelope(p) for p in products]
        breakdown_events = events[: args.sample]
        baseline_events = events[args.sample : 2 * args.sample]
        batch_events = events[2 * args.sample :]

        engine = make_engine(scratch_url, pool_size=2)
        store = EnrichmentStore(make_session_factory(engine), OutboxWriter(SOURCE))
        taxonomy = Taxonomy.default()
        provider = ResilientProvider(LocalProvider())
        enricher = Enricher(store=store, provider=provider, taxonomy=taxonomy)

        spent = asyncio.run(breakdown(store, provider, taxonomy, breakdown_events))
        whole = sum(spent.values())
        print(f"\nbreakdown, one product at a time ({len(breakdown_events)} products): µs per product")
        for stage, seconds in spent.items():
            print(f"  {stage:<12} {seconds / len(breakdown_events) * 1e6:8.0f}  ({seconds / whole:5.1%})")
        print(f"  {'sum':<12} {whole / len(breakdown_events) * 1e6:8.0f}  = {len(breakdown_events) / whole:.0f}/s")

        async def one_at_a_time() -> float:
            started = time.perf_counter()
            for event in baseline_events:
                await enricher.handle(event)
            return time.perf_counter() - started

        baseline_s = asyncio.run(one_at_a_time())
        print(
            f"\nbaseline Enricher.handle, one event at a time: {len(baseline_events)} products in {baseline_s:.2f} s "
            f"= {len(baseline_events) / baseline_s:.0f} products/s"
        )

        async def batched() -> tuple[float, list[float]]:
            per_batch: list[float] = []
            started = time.perf_counter()
            for i in range(0, len(batch_events), args.batch_size):
                batch_started = time.perf_counter()
                await enricher.handle_batch(batch_events[i : i + args.batch_size])
                per_batch.append(time.perf_counter() - batch_started)
            return time.perf_counter() - started, per_batch

        batch_s, per_batch = asyncio.run(batched())
        print(
            f"Enricher.handle_batch, batches of {args.batch_size}: {len(batch_events)} products in {batch_s:.2f} s "
            f"= {len(batch_events) / batch_s:.0f} products/s; per batch p50 {percentile(per_batch, 50) * 1e3:.0f} ms, "
            f"p99 {percentile(per_batch, 99) * 1e3:.0f} ms, mean {statistics.fmean(per_batch) * 1e3:.0f} ms "
            f"({len(per_batch)} batches)"
        )
        print(f"  batched / one at a time: {(len(batch_events) / batch_s) / (len(baseline_events) / baseline_s):.1f}x")
        enriched, outbox_events, bulk = counts(conninfo)
        print(
            f"\nstored: {enriched} enrichments of {total} products; {outbox_events} product.enriched ({bulk} bulk lane)"
        )
    finally:
        if engine is not None:
            engine.dispose()
        scratch.drop()


if __name__ == "__main__":
    main()
