#!/usr/bin/env python
"""Processor throughput from a pre-filled topic: how fast the indexer and the enricher drain a backlog.

What is measured, against a running stack (`catalog-stack run`; nothing else should write to it meanwhile):

1. Fill: the script stops the stack's indexer, enricher and media processes, imports a generated feed of
   `--products` one-row products (`POST /imports`, SKUs `PT<run>-<n>`) and waits until the job is COMPLETED and the
   relay has published every outbox row: the bulk lane now holds one `product.created` per product.
2. Indexer alone: started again; clock from its start until every product of the feed is in the read model
   (`core_version > 0`), polled every 0.2 s. Printed from the process start (includes its ~2 s start and group
   join) and from the first indexed document, in products/s, beside the target of 5,000/s.
3. Enricher alone (indexer stopped again): clock from its start until every product has a stored enrichment
   (`product_enrichment`), beside the target of 2,000/s.
4. Indexer applying the enricher's output: started again; until every document holds its enrichment part.
5. The drain time of the whole backlog through both (2 + 3 run one after the other here, so their sum bounds
   what running them side by side takes on a box with spare cores) beside the target of 30 s for 50,000.

The media process is started again at the end (and every stopped process if the script fails).

    .venv/bin/python bench/processors.py [--products 50000] [--timeout 900]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import psycopg
from stack_access import Stack, StackService, find_stack

HEADER = "sku,name,brand,description,price,currency,stock,attr:material\n"
KINDS = ("tee", "shirt", "hoodie", "sweater", "jacket", "trousers", "shorts", "dress")
BRANDS = ("Acme", "Nordwind", "Kestrel", "Lumen", "Oakridge", "Tidewater", "Bergmann", "Solace")


def write_feed(path: Path, products: int, run: str) -> None:
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write(HEADER)
        for n in range(products):
            kind, brand = KINDS[n % len(KINDS)], BRANDS[n // len(KINDS) % len(BRANDS)]
            out.write(
                f"PT{run}-{n},Cotton {kind} {n},{brand},A soft {kind} in organic cotton,{9 + n % 90}.90,EUR,{n % 30},"
                "cotton\n"
            )


def wait_for(probe: Callable[[], int], target: int, timeout_s: float, interval_s: float = 0.2) -> float | None:
    """Seconds until `probe()` reaches `target`; None after `timeout_s`."""
    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        if probe() >= target:
            return time.monotonic() - started
        time.sleep(interval_s)
    return None


def scalar(conn: psycopg.Connection[tuple[int]], sql: str, *params: object) -> int:
    row = conn.execute(sql, params).fetchone()
    return int(row[0]) if row and row[0] is not None else 0


@contextlib.contextmanager
def left_running(services: list[StackService]) -> Iterator[None]:
    """Whatever happens, every service runs again at the end."""
    try:
        yield
    finally:
        for service in services:
            if not service.running():
                print(f"{service.name} started again (pid {service.start()})")


def import_feed(stack: Stack, products: int, run: str, timeout_s: float) -> float:
    with tempfile.TemporaryDirectory(prefix="bench-processors-") as tmp:
        feed = Path(tmp) / "feed.csv"
        write_feed(feed, products, run)
        headers = {"Authorization": f"Bearer {stack.key}"}
        with httpx.Client(base_url=stack.api_url, headers=headers, timeout=300) as http:
            started = time.monotonic()
            with feed.open("rb") as body:
                response = http.post("/imports", files={"file": ("feed.csv", body, "text/csv")}, data={"format": "csv"})
            response.raise_for_status()
            job_id = response.json()["id"]
            while (state := http.get(f"/imports/{job_id}").json()["state"]) in ("PENDING", "PROCESSING"):
                if time.monotonic() - started > timeout_s:
                    raise SystemExit(f"import {job_id} still {state} after {timeout_s:g} s")
                time.sleep(0.5)
            if state != "COMPLETED":
                raise SystemExit(f"import {job_id} ended {state}")
            return time.monotonic() - started


def rate(products: int, seconds: float | None, target: float) -> str:
    if seconds is None:
        return "did not finish"
    per_s = products / seconds
    return f"{seconds:.1f} s, {per_s:,.0f} products/s ({per_s / target:.2f} x the {target:,.0f}/s target)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--products", type=int, default=50_000, help="backlog size (default 50000)")
    parser.add_argument("--timeout", type=float, default=900.0, help="per phase (s)")
    parser.add_argument("--api-url", default=f"http://127.0.0.1:{os.environ.get('API_PORT', '8000')}")
    parser.add_argument("--search-url", default=f"http://127.0.0.1:{os.environ.get('SEARCH_PORT', '8001')}")
    args = parser.parse_args()
    if not 100 <= args.products <= 2_000_000 or not 10 <= args.timeout <= 7200:
        parser.error("bounds: 100 <= --products <= 2e6, 10 <= --timeout <= 7200")
    stack = find_stack(args.api_url.rstrip("/"), args.search_url.rstrip("/"))
    indexer, enricher, media = (stack.service(n) for n in ("indexer", "enricher", "media"))
    run = uuid.uuid4().hex[:6]
    n = args.products
    prefix = f"PT{run}-%"
    print(f"run {run}: backlog of {n} products, {os.cpu_count()} CPUs, stack {stack.config.root}")

    with (
        left_running([indexer, enricher, media]),
        psycopg.connect(stack.conninfo, autocommit=True, application_name="bench-processors") as conn,
    ):
        for service in (indexer, enricher, media):
            service.stop()
        imported = import_feed(stack, n, run, args.timeout)
        print(f"  fill: imported in {imported:.1f} s", flush=True)
        published = wait_for(lambda: -scalar(conn, "SELECT count(*) FROM outbox WHERE published_at IS NULL"), 0, 600)
        print(f"  fill: outbox published {published:.1f} s later" if published is not None else "  outbox not drained")

        def indexed() -> int:
            return scalar(conn, "SELECT count(*) FROM search.documents WHERE core_version > 0 AND sku LIKE %s", prefix)

        def first_indexed() -> float:
            return float(
                conn.execute(
                    "SELECT extract(epoch FROM min(indexed_at)) FROM search.documents WHERE sku LIKE %s", (prefix,)
                ).fetchone()[0]  # type: ignore[index]
            )

        start = time.time()
        indexer.start()
        index_s = wait_for(indexed, n, args.timeout)
        from_first = None if index_s is None else start + index_s - first_indexed()
        indexer.stop()
        print(f"  indexer: {rate(n, index_s, 5000)} from its start", flush=True)
        print(f"           {rate(n, from_first, 5000)} from its first document", flush=True)

        def enriched() -> int:
            return scalar(
                conn,
                "SELECT count(*) FROM product_enrichment e JOIN products p ON p.id = e.product_id "
                "WHERE p.sku LIKE %s AND e.computed_from_version = p.version",
                prefix,
            )

        enricher.start()
        enrich_s = wait_for(enriched, n, args.timeout, interval_s=0.5)
        print(f"  enricher: {rate(n, enrich_s, 2000)} from its start", flush=True)
        published = wait_for(lambda: -scalar(conn, "SELECT count(*) FROM outbox WHERE published_at IS NULL"), 0, 600)

        def with_enrichment() -> int:
            return scalar(
                conn,
                "SELECT count(*) FROM search.documents WHERE sku LIKE %s AND enrichment_version >= core_version "
                "AND core_version > 0",
                prefix,
            )

        indexer.start()
        merge_s = wait_for(with_enrichment, n, args.timeout)
        print(f"  indexer, enrichment parts: {rate(n, merge_s, 5000)} from its start", flush=True)

    if index_s is not None and enrich_s is not None:
        drain = index_s + enrich_s
        verdict = "meets" if drain * 50_000 / n <= 30 else "misses"
        print(
            f"backlog of {n}: indexed + enriched one after the other in {drain:.1f} s "
            f"(scaled to 50,000: {drain * 50_000 / n:.1f} s, {verdict} the 30 s target)"
        )


if __name__ == "__main__":
    main()
