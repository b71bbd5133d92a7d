#!/usr/bin/env python
"""Fast path under load: a product created through the API while a large supplier feed imports must still be
searchable within a second. Also: how long after its upload the whole feed is searchable, and enriched.

What is measured, against a running stack (`catalog-stack run`, every service up):

1. A generated CSV feed of `--rows` rows (`--variants` rows per product: product_key, SKU, size, stock; the first
   row also name, brand, description, price, material), SKUs `FP<run>-…`, is uploaded with `POST /imports`.
   Upload start is t0.
2. Meanwhile, from t0 until the whole feed is enriched, one product per `--interval` seconds is created with
   `POST /products` (SKU `FI<run>-<n>`, a realistic body). A poller asks the search API for each one not yet
   searchable every `--poll` seconds (`GET /search?q=<sku>&limit=1`, the product as the first hit): POST →
   searchable is from just before the POST to the poll that first found it (late by at most one poll). Split by
   whether the POST was sent while the import ran or after it.
3. Feed milestones, polled every `--feed-poll` seconds (resolution): the job's COMPLETED (`GET /imports/{id}`),
   every product of the feed in the search index (its rows in the read model, `core_version > 0`, and their highest
   change number applied by the index), and every one enriched
   (`enrichment_version >= core_version`). Their ratio to the import time is printed beside the targets
   (all indexed ≤ 1.5x, all enriched ≤ 3x), and the interactive p99 beside its target of 1 s.
4. Every 2 s the indexer's and the enricher's `/readyz` (lag by lane) are sampled: the peak bulk lag is printed.

Nothing is removed: the products stay in the catalog as a client's would (SKUs `FP<run>-`, `FI<run>-`).

    export CATALOG_STACK_DIR=$PWD/.local/bench CATALOG_PG_PORT=55435 CATALOG_BROKER_PORT=19095 \\
           API_PORT=8100 SEARCH_PORT=8101
    .venv/bin/catalog-stack run
    .venv/bin/python bench/fast_path_under_load.py [--rows 40000] [--variants 4] [--interval 1.0] [--timeout 1800]
"""

from __future__ import annotations

import argparse
import os
import random
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
from process_stats import percentile
from stack_access import Stack, find_stack

HEADER = "product_key,sku,name,brand,description,price,currency,stock,option:size,attr:material\n"
SIZES = ("XS", "S", "M", "L", "XL", "XXL", "3XL", "4XL")
BRANDS = ("Acme", "Nordwind", "Kestrel", "Lumen", "Oakridge", "Tidewater", "Bergmann", "Solace")
KINDS = ("tee", "shirt", "hoodie", "sweater", "jacket", "trousers", "shorts", "dress")
MATERIALS = ("linen", "cotton", "merino", "denim", "fleece", "canvas", "corduroy", "bamboo")
COLOURS = ("red", "navy", "black", "white", "olive", "sand", "grey", "teal")


def write_feed(path: Path, rows: int, variants: int, run: str, rng: random.Random) -> int:
    """The feed file; returns how many products it holds."""
    products = 0
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write(HEADER)
        for start in range(0, rows, variants):
            key = f"FP{run}-{products}"
            brand, kind, material = rng.choice(BRANDS), rng.choice(KINDS), rng.choice(MATERIALS)
            for v in range(min(variants, rows - start)):
                size = SIZES[v % len(SIZES)]
                sku = f"{key}-{size}" if v < len(SIZES) else f"{key}-{v}"
                if v == 0:
                    out.write(
                        f"{key},{sku},{material.title()} {kind} {products},{brand},{rng.choice(COLOURS)} {kind} in "
                        f"{material},{rng.randint(9, 199)}.90,EUR,{rng.randint(0, 50)},{size},{material}\n"
                    )
                else:
                    out.write(f"{key},{sku},,,,,,{rng.randint(0, 50)},{size},\n")
            products += 1
    return products


@dataclass
class Created:
    sku: str
    sent_wall: float
    latency_s: float
    product_id: str | None
    searchable_wall: float | None = None
    in_read_model_wall: float | None = None  # its row seen in `search.documents` (what main's search reads)


class Creator(threading.Thread):
    """One `POST /products` per interval until stopped."""

    def __init__(self, stack: Stack, run: str, interval_s: float, rng: random.Random) -> None:
        super().__init__(daemon=True)
        self.stack, self.run_id, self.interval_s, self.rng = stack, run, interval_s, rng
        self.created: list[Created] = []
        self.failures: list[str] = []
        self.stop = threading.Event()
        self.lock = threading.Lock()

    def run(self) -> None:
        headers = {"Authorization": f"Bearer {self.stack.key}"}
        with httpx.Client(base_url=self.stack.api_url, headers=headers, timeout=30) as http:
            n = 0
            next_at = time.monotonic()
            while not self.stop.is_set():
                sku = f"FI{self.run_id}-{n}"
                sent = time.time()
                started = time.perf_counter()
                try:
                    response = http.post("/products", json=self.body(sku))
                    latency = time.perf_counter() - started
                    ok = response.status_code == 201
                    if not ok:
                        self.failures.append(f"{response.status_code} {response.text[:200]}")
                    product_id = response.json()["id"] if ok else None
                except httpx.HTTPError as exc:
                    self.failures.append(repr(exc))
                    latency, product_id = time.perf_counter() - started, None
                with self.lock:
                    self.created.append(Created(sku, sent, latency, product_id))
                n += 1
                next_at += self.interval_s
                self.stop.wait(max(0.0, next_at - time.monotonic()))

    def body(self, sku: str) -> dict[str, Any]:
        kind, material, brand = self.rng.choice(KINDS), self.rng.choice(MATERIALS), self.rng.choice(BRANDS)
        return {
            "sku": sku,
            "name": f"{material.title()} {kind}",
            "brand": brand,
            "description": f"A {kind} in {self.rng.choice(COLOURS)} {material} from {brand}.",
            "price": f"{self.rng.randint(9, 199)}.00",
            "currency": "EUR",
            "stock": 5,
            "status": "active",
        }

    def pending(self) -> list[Created]:
        with self.lock:
            return [c for c in self.created if c.product_id and c.searchable_wall is None]


def index_position(stack: Stack) -> int:
    """The highest read-model change number the search API's index has applied (what a query sees)."""
    try:
        return int(httpx.get(f"{stack.search_url}/readyz", timeout=5).json().get("index_position", 0))
    except (httpx.HTTPError, ValueError):
        return 0


def poll_read_model(conn: psycopg.Connection[Any], pending: list[Created]) -> None:
    """Note when each pending product's row is in the read model: the search API's part is the time after it."""
    waiting = {c.product_id: c for c in pending if c.in_read_model_wall is None}
    if not waiting:
        return
    polled = time.time()
    rows = conn.execute(
        "SELECT product_id::text FROM search.documents WHERE product_id = ANY(%s::uuid[]) AND core_version > 0",
        (list(waiting),),
    ).fetchall()
    for (product_id,) in rows:
        waiting[product_id].in_read_model_wall = polled


def poll_searchable(search: httpx.Client, pending: list[Created]) -> None:
    for created in pending:
        polled = time.time()
        try:
            hits = search.get("/search", params={"q": created.sku, "limit": 1}).json()["hits"]
        except (httpx.HTTPError, ValueError, KeyError):
            continue
        if hits and hits[0]["id"] == created.product_id:
            created.searchable_wall = polled


def has_change_numbers(conn: psycopg.Connection[Any]) -> bool:
    """Whether the read model numbers its changes (a search index follows it); main's does not: it is searched."""
    return bool(
        conn.execute(
            "SELECT 1 FROM information_schema.columns"
            " WHERE table_schema = 'search' AND table_name = 'documents' AND column_name = 'change'"
        ).fetchone()
    )


def feed_progress(conn: psycopg.Connection[Any], run: str, since: float, numbered: bool) -> tuple[int, int, int]:
    """(in the read model, enriched, highest change number or 0) of the feed's products."""
    last = "coalesce(max(change) FILTER (WHERE core_version > 0), 0)" if numbered else "0"
    row = conn.execute(
        "SELECT count(*) FILTER (WHERE core_version > 0), "
        "       count(*) FILTER (WHERE core_version > 0 AND enrichment_version >= core_version), "
        f"       {last} FROM search.documents WHERE created_at >= to_timestamp(%s) AND sku LIKE %s",
        (since - 5, f"FP{run}-%"),
    ).fetchone()
    return (int(row[0]), int(row[1]), int(row[2])) if row else (0, 0, 0)


def bulk_lag(stack: Stack, name: str) -> int:
    return int(stack.readiness(name).get("lag_by_lane", {}).get("bulk", 0))


def summary(values: list[float]) -> str:
    if not values:
        return "n/a"
    return (
        f"n={len(values)} p50 {percentile(values, 50) * 1000:.0f} ms, p99 {percentile(values, 99) * 1000:.0f} ms, "
        f"max {max(values) * 1000:.0f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=40_000, help="feed rows (default 40000)")
    parser.add_argument("--variants", type=int, default=4, help="rows per product (default 4)")
    parser.add_argument("--interval", type=float, default=1.0, help="seconds between interactive creates")
    parser.add_argument("--poll", type=float, default=0.02, help="read-model poll for interactive products (s)")
    parser.add_argument("--feed-poll", type=float, default=1.0, help="feed milestone poll (s)")
    parser.add_argument("--timeout", type=float, default=1800.0, help="give up after this long (s)")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--api-url", default=f"http://127.0.0.1:{os.environ.get('API_PORT', '8000')}")
    parser.add_argument("--search-url", default=f"http://127.0.0.1:{os.environ.get('SEARCH_PORT', '8001')}")
    args = parser.parse_args()
    if not 1 <= args.rows <= 5_000_000 or not 1 <= args.variants <= 8 or not 0.05 <= args.interval <= 60:
        parser.error("bounds: 1 <= --rows <= 5e6, 1 <= --variants <= 8, 0.05 <= --interval <= 60")
    if not 0.005 <= args.poll <= 1 or not 0.1 <= args.feed_poll <= 30 or not 10 <= args.timeout <= 7200:
        parser.error("bounds: 0.005 <= --poll <= 1, 0.1 <= --feed-poll <= 30, 10 <= --timeout <= 7200")
    stack = find_stack(args.api_url.rstrip("/"), args.search_url.rstrip("/"))
    rng = random.Random(args.seed)
    run = uuid.uuid4().hex[:6]

    with tempfile.TemporaryDirectory(prefix="bench-fast-path-") as tmp:
        feed = Path(tmp) / "feed.csv"
        products = write_feed(feed, args.rows, args.variants, run, rng)
        print(
            f"run {run}: {args.rows} rows / {products} products ({feed.stat().st_size / 1e6:.1f} MB), "
            f"one interactive create every {args.interval:g} s, {os.cpu_count()} CPUs, stack {stack.config.root}"
        )
        creator = Creator(stack, run, args.interval, rng)
        headers = {"Authorization": f"Bearer {stack.key}"}
        with (
            httpx.Client(base_url=stack.api_url, headers=headers, timeout=300) as http,
            psycopg.connect(stack.conninfo, autocommit=True, application_name="bench-fast-path") as conn,
            httpx.Client(base_url=stack.search_url, timeout=10) as search,
        ):
            numbered = has_change_numbers(conn)
            t0 = time.time()
            creator.start()
            with feed.open("rb") as body:
                response = http.post("/imports", files={"file": ("feed.csv", body, "text/csv")}, data={"format": "csv"})
            response.raise_for_status()
            job_id = response.json()["id"]
            uploaded = time.time() - t0
            print(f"  uploaded in {uploaded:.1f} s: job {job_id}", flush=True)
            imported = indexed = enriched = None
            job: dict[str, Any] = {}
            peak = {"indexer": 0, "enricher": 0}
            next_feed_poll = next_lag_poll = time.monotonic()
            deadline = time.monotonic() + args.timeout
            try:
                while (enriched is None or indexed is None) and time.monotonic() < deadline:
                    poll_read_model(conn, creator.pending())
                    poll_searchable(search, creator.pending())
                    now = time.monotonic()
                    if now >= next_lag_poll:
                        for name in peak:
                            peak[name] = max(peak[name], bulk_lag(stack, name))
                        next_lag_poll = now + 2.0
                    if now >= next_feed_poll:
                        next_feed_poll = now + args.feed_poll
                        if imported is None:
                            job = http.get(f"/imports/{job_id}").json()
                            if job["state"] not in ("PENDING", "PROCESSING"):
                                imported = time.time() - t0
                                print(f"  import {job['state']} after {imported:.1f} s", flush=True)
                        done, with_enrichment, last_change = feed_progress(conn, run, t0, numbered)
                        if (
                            indexed is None
                            and done >= products
                            and (not numbered or index_position(stack) >= last_change)
                        ):
                            indexed = time.time() - t0
                            print(f"  every product indexed after {indexed:.1f} s", flush=True)
                        if enriched is None and with_enrichment >= products and imported is not None:
                            enriched = time.time() - t0
                            print(f"  every product enriched after {enriched:.1f} s", flush=True)
                    time.sleep(args.poll)
                creator.stop.set()
                creator.join(30)
                settle = time.monotonic() + 30
                while creator.pending() and time.monotonic() < settle:
                    poll_searchable(search, creator.pending())
                    time.sleep(args.poll)
            finally:
                creator.stop.set()

    print()
    print(f"feed: {args.rows} rows, {products} products; upload {uploaded:.1f} s")
    if imported is None:
        print(f"  import did not finish within {args.timeout:g} s")
        return
    print(f"  import {job.get('state')} after {imported:.1f} s: {args.rows / imported:,.0f} rows/s")
    for name, at, target in (("indexed", indexed, 1.5), ("enriched", enriched, 3.0)):
        if at is None:
            print(f"  all {name}: not within {args.timeout:g} s")
        else:
            verdict = "meets" if at / imported <= target else "misses"
            print(
                f"  all {name} after {at:.1f} s = {at / imported:.2f} x the import time ({verdict} target <= {target}x)"
            )
    print(f"  peak bulk-lane lag: indexer {peak['indexer']}, enricher {peak['enricher']} (sampled every 2 s)")
    made = [c for c in creator.created if c.product_id]
    during = [c for c in made if c.sent_wall < t0 + imported]
    after = [c for c in made if c.sent_wall >= t0 + imported]
    unsettled = [c for c in made if c.searchable_wall is None]
    print(f"interactive creates: {len(made)} ({len(creator.failures)} failed), {len(unsettled)} never searchable")
    print(f"  POST latency: {summary([c.latency_s for c in made])}")
    for label, group in (("during the import", during), ("after it, feed still processing", after)):
        lat = [c.searchable_wall - c.sent_wall for c in group if c.searchable_wall is not None]
        print(f"  POST -> searchable {label}: {summary(lat)}")
        seen = [c.in_read_model_wall - c.sent_wall for c in group if c.in_read_model_wall is not None]
        print(f"    POST -> in the read model: {summary(seen)}")
        if lat:
            p99 = percentile(lat, 99)
            print(f"    p99 / 1 s target = {p99:.2f} ({'meets' if p99 <= 1 else 'misses'}; stretch 0.5 s)")
    if creator.failures:
        print(f"  first failure: {creator.failures[0]}")


if __name__ == "__main__":
    main()
