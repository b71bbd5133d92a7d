#!/usr/bin/env python
"""Enrichment priorities benchmark: urgent work jumps a large backlog, and the backlog still drains at batch speed.

The scenario of issue 13, at the enricher's service layer (the worker loop `EnrichmentWork.tick` over the real work
queue and store, as the `catalog-enricher` process runs it), against a stack's PostgreSQL:

1. Set-up: a scratch database `catalog_bench_priorities_<run>` migrated with every chain; `--backlog` + 100 products
   generated and loaded with `COPY` (bench/enricher.py's generator).
2. "Enricher stopped": the backlog is queued, half `normal` (import rows) and half `low` (refreshes), oldest first.
   Then 100 products are queued `high` (interactive creates) and 10 of them are asked for again `critical` (found by
   a search while pending).
3. "Enricher started": `tick()` until the queue is empty (batches of `--batch-size`). Every product.enriched is
   written in the order the work was done; the run reports after how many enriched products the last critical and
   the last high one were done (target: before 5% of the backlog), and the drain rate (target: the lanes issue's
   ~3,800 products/s on this machine, bench/enricher.py).

    export CATALOG_STACK_DIR=$PWD/.local/bench CATALOG_PG_PORT=55449 CATALOG_BROKER_PORT=19109
    .venv/bin/catalog-stack up
    .venv/bin/python bench/enrichment_priorities.py [--backlog 50000] [--batch-size 500]
    .venv/bin/catalog-stack stop
"""

from __future__ import annotations

import argparse
import asyncio
import io
import logging
import os
import time

import psycopg
from enricher import generate, load
from sqlalchemy.engine import make_url
from stack_access import scratch_database

from catalog_enricher.adapters.catalog_store import EnrichmentStore
from catalog_enricher.adapters.provider import LocalProvider, ResilientProvider
from catalog_enricher.adapters.work_queue import EnrichmentQueue, WorkRequest
from catalog_enricher.domain.priorities import Backpressure, Priority
from catalog_enricher.domain.taxonomy import Taxonomy
from catalog_enricher.service_layer.enrichment import Enricher
from catalog_enricher.service_layer.work import EnrichmentWork
from catalog_kit.db import make_engine, make_session_factory
from catalog_kit.jsonlog import JsonFormatter
from catalog_kit.outbox import OutboxWriter
from catalog_stack.infra import migrate

TARGET_SHARE = 0.05  # urgent work done before 5% of the backlog
TARGET_RATE = 3800.0  # products/s of the lanes issue's batch enrichment (bench/enricher.py)
INTERACTIVE, SEARCHED = 100, 10


def done_order(conninfo: str) -> list[str]:
    """Products in the order their product.enriched rows were written."""
    with psycopg.connect(conninfo) as conn:
        rows = conn.execute(
            "SELECT aggregate_id FROM outbox WHERE event_type = 'product.enriched' ORDER BY id"
        ).fetchall()
    return [str(row[0]) for row in rows]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backlog", type=int, default=50_000, help="normal + low items queued first")
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--seed", type=int, default=13)
    args = parser.parse_args()
    if not 1_000 <= args.backlog <= 1_000_000 or not 1 <= args.batch_size <= 10_000:
        parser.error("bounds: 1e3 <= --backlog <= 1e6, 1 <= --batch-size <= 1e4")

    scratch = scratch_database("catalog_bench_priorities")
    server = make_url(scratch.url)
    print(f"run {scratch.name}: on {server.host}:{server.port}, {os.cpu_count()} CPUs")
    sink = logging.StreamHandler(io.TextIOWrapper(open(os.devnull, "wb")))  # noqa: SIM115 - lives for the run
    sink.setFormatter(JsonFormatter("enricher"))
    logging.getLogger().handlers[:] = [sink]
    logging.getLogger().setLevel(logging.INFO)

    scratch.create()
    engine = None
    try:
        migrate(scratch.url)
        products = generate(args.backlog + INTERACTIVE, args.seed, scratch.name.rpartition("_")[2])
        print(f"  seeded {len(products)} products in {load(scratch.conninfo, products):.1f} s")
        backlog = [p["id"] for p in products[: args.backlog]]
        interactive = [p["id"] for p in products[args.backlog :]]
        searched = interactive[:: INTERACTIVE // SEARCHED][:SEARCHED]

        engine = make_engine(scratch.url, pool_size=4)
        sessions = make_session_factory(engine)
        queue = EnrichmentQueue(sessions)
        started = time.perf_counter()
        for i in range(0, len(backlog), 5000):  # oldest first: normal, then low, then low...
            chunk = backlog[i : i + 5000]
            priority = Priority.NORMAL if i < len(backlog) // 2 else Priority.LOW
            queue.enqueue_many([WorkRequest(p, priority, "bench") for p in chunk])
        for product in interactive:
            queue.enqueue_many([WorkRequest(product, Priority.HIGH, "change")])
        queue.enqueue_many([WorkRequest(p, Priority.CRITICAL, "searched") for p in searched])
        queued_s = time.perf_counter() - started
        counts = queue.counts()
        print(
            f"  queued with the enricher stopped in {queued_s:.1f} s: "
            + ", ".join(f"{p.label} {counts.pending[p]}" for p in Priority)
        )

        store = EnrichmentStore(sessions, OutboxWriter("/catalog/enricher"))
        enricher = Enricher(store=store, provider=ResilientProvider(LocalProvider()), taxonomy=Taxonomy.default())
        # The bound above the backlog: this run measures order and drain; parking is tested in the suite.
        work = EnrichmentWork(queue, store, enricher, Backpressure(10 * len(products)), batch=args.batch_size)

        async def drain() -> float:
            begun = time.perf_counter()
            while await work.tick():
                pass
            return time.perf_counter() - begun

        drain_s = asyncio.run(drain())
        order = done_order(scratch.conninfo)
        position = {product: n + 1 for n, product in enumerate(order)}
        last_critical = max(position[p] for p in searched)
        last_high = max(position[p] for p in interactive)
        rate = len(order) / drain_s
        share = last_high / args.backlog
        print(f"\nenriched {len(order)} of {len(products)} products in {drain_s:.1f} s = {rate:.0f} products/s")
        print(f"  last critical done as product #{last_critical}; last high as #{last_high}")
        print(
            f"  urgent work done after {share:.2%} of the backlog (target < {TARGET_SHARE:.0%}: "
            f"ratio {share / TARGET_SHARE:.3f}); drain {rate:.0f}/s vs {TARGET_RATE:.0f}/s target: "
            f"ratio {rate / TARGET_RATE:.2f}"
        )
        leftover = queue.counts()
        print(f"  queue afterwards: backlog {leftover.backlog}, parked {leftover.parked}, failed {leftover.failed}")
    finally:
        if engine is not None:
            engine.dispose()
        scratch.drop()


if __name__ == "__main__":
    main()
