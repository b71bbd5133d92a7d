#!/usr/bin/env python
"""Freshness benchmark: how long after `POST /products` a product is searchable, and how long until it is enriched.

What is measured, per write rate (`--rates`, writes/s) and per phase, against a running stack (`catalog-stack run`):

- Load: open-loop creates. A scheduler releases `POST /products` number i at `start + i / rate`, whatever the
  server does; each released request waits for one of `--max-in-flight` keep-alive connections (httpx). A slow
  server therefore does not lower the offered rate; it shows as schedule lag (release → send) and as an achieved
  rate below the offered one. Offered = scheduled / `--duration`; achieved = 201s / (last answer - first release).
  Every product has a unique SKU `FR-<run>-<rate>-<phase>-<n>` and a realistic body (name, brand, description,
  attributes, images), status active.
- POST latency: from just before the request is sent to its answer (p50/p99).
- POST → searchable: from the wall-clock time (`time.time()`) just before the POST to the moment the product's row
  in `search.documents` became visible with `core_version >= 1`. The indexer sets `indexed_at` to
  `clock_timestamp()` in the statement that applies a part (inside its batch transaction, so up to that batch's
  remaining work before the commit that makes it visible; an interactive batch is a few records) on *every*
  change, including the later enrichment merge, so `indexed_at` is the core insert time only while
  `enrichment_version = 0`. Method: a poller thread of this script reads `product_id, core_version,
  enrichment_version, indexed_at` for every product not yet settled, in one indexed query every
  `--poll-interval` (default 10 ms). The first time it sees a product with `core_version >= 1`:
  * `enrichment_version = 0`: the row so far holds the core insert only; its `indexed_at` is the exact time (same
    machine clock as `time.time()`) — "exact" in the output;
  * already enriched (the enrichment merge came within one poll): the poll's own start time is used, an upper bound
    at most one poll interval late (the rest of "exact%").
  "after answer" is the same end point minus the time the POST was answered: the pipeline's share (outbox, relay,
  broker, indexer) without the API's own latency.
- Phases: "enricher stopped" (the script stops the `enricher` process of the stack; nothing but the core insert
  writes the rows, so every figure is exact) and "enricher running" (the normal system, where the indexer also
  applies `product.enriched` events and the enricher competes for CPU and the database). After the stopped phase
  the enricher is started again with the environment the stack gave it (read from `/proc/<pid>/environ`, else the
  current environment plus `DATABASE_URL` / `KAFKA_BOOTSTRAP_SERVERS`); the script waits until it has enriched the
  stopped phase's backlog (timed: the catch-up rate is printed) before the next phase. It is left running.
- POST → enriched (enricher running): until `enrichment_version >= core_version` (the search API's
  `enrichment_status = complete`). The poller reads `indexed_at` of that row, which is then the enrichment merge
  time (the products are not written again), so this figure is exact too.
- Cross-check through HTTP: every `--api-sample`-th product is also polled with `GET /search?q=<its SKU>&limit=1`
  on the search API (every `--poll-interval`, at most `--sampler-concurrency` requests in flight) until it is the
  hit; the time of the request that first found it is used (resolution: the polling interval plus the queueing
  behind the concurrency bound). This is what a client sees; it adds a little load to the search API.
- Before each phase `--warmup` products are written and waited for (not counted), so the enricher's consumer
  group has joined after a restart and every connection is warm.
- CPU: busy share of the machine (/proc/stat) and of each stack process (pid files; PostgreSQL = the postmaster and
  its children) during each write window, and what the rest of the machine used meanwhile.

Results (percentiles over the products that settled before `--settle-timeout` after the last write; any that did
not are counted as "unsettled"). The products stay in the catalog (as a client's would); their SKUs start with
`FR-<run>-`.

    export CATALOG_STACK_DIR=$PWD/.local/bench CATALOG_PG_PORT=55435 CATALOG_BROKER_PORT=19095 \\
           API_PORT=8100 SEARCH_PORT=8101
    .venv/bin/catalog-stack run
    .venv/bin/python bench/freshness.py [--rates 50,100,200] [--duration 60] [--max-in-flight 64]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import random
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg
from process_stats import machine_cpu, percentile, proc_cpu_s
from stack_access import StackService, find_stack

from catalog_kit.db import masked_url
from catalog_stack.infra import StackConfig
from catalog_stack.processes import ManagedProcess

STACK_PROCESSES = ("product-api", "outbox-relay", "indexer", "search-api", "enricher", "broker")
ENRICHER = "enricher"
POSTGRES = "postgres"

BRANDS = ("Acme", "Nordwind", "Kestrel", "Lumen", "Oakridge", "Tidewater", "Bergmann", "Solace")
ADJECTIVES = ("Relaxed", "Classic", "Slim", "Oversized", "Cropped", "Heavyweight", "Organic", "Vintage")
MATERIALS = ("linen", "cotton", "merino", "denim", "fleece", "canvas", "corduroy", "bamboo")
TYPES = ("tee", "shirt", "hoodie", "sweater", "jacket", "trousers", "shorts", "dress")
COLOURS = ("red", "navy", "black", "white", "olive", "sand", "grey", "teal")


@dataclass
class Write:
    """One create and when its effects became visible (wall-clock seconds since the epoch)."""

    n: int
    sku: str
    due: float  # perf_counter time the scheduler released it
    sent_wall: float = math.nan  # time.time() just before the POST
    sent_perf: float = math.nan
    latency_s: float = math.nan
    done_perf: float = math.nan
    status: int | str = "not sent"
    product_id: str | None = None
    searchable_at: float | None = None
    searchable_exact: bool = False
    enriched_at: float | None = None
    api_seen_at: float | None = None
    api_polls: int = 0

    @property
    def schedule_lag_s(self) -> float:
        return self.sent_perf - self.due


@dataclass
class PhaseResult:
    rate: int
    phase: str  # "stopped" | "running"
    duration_s: float
    writes: list[Write] = field(default_factory=list)
    wall_s: float = 0.0  # first release to last answer
    settle_s: float = 0.0  # last answer to all settled (or the timeout)
    cpu: dict[str, float] = field(default_factory=dict)  # share of one core, by process; "machine" = all cores
    api_requests: int = 0
    catch_up: str | None = None  # enricher backlog drain after this phase

    @property
    def ok(self) -> list[Write]:
        return [w for w in self.writes if w.status == 201]

    @property
    def offered_rate(self) -> float:
        return len(self.writes) / self.duration_s

    @property
    def achieved_rate(self) -> float:
        return len(self.ok) / self.wall_s if self.wall_s > 0 else 0.0


# --- the read model poller -----------------------------------------------------------------------------------

_POLL_SQL = """
SELECT product_id::text, core_version, enrichment_version, extract(epoch FROM indexed_at)::float8
FROM search.documents WHERE product_id = ANY(%s::uuid[])
"""


class ReadModelPoller(threading.Thread):
    """Polls the read model for every registered product until it is searchable (and enriched, if tracked)."""

    def __init__(self, conninfo: str, interval_s: float, track_enrichment: bool) -> None:
        super().__init__(name="read-model-poller", daemon=True)
        self.conninfo = conninfo
        self.interval_s = interval_s
        self.track_enrichment = track_enrichment
        self.pending: dict[str, Write] = {}
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.polls = 0
        self.error: BaseException | None = None

    def add(self, write: Write) -> None:
        assert write.product_id is not None
        with self.lock:
            self.pending[write.product_id] = write

    def unsettled(self) -> int:
        with self.lock:
            return len(self.pending)

    def settled(self, write: Write) -> bool:
        return write.searchable_at is not None and (not self.track_enrichment or write.enriched_at is not None)

    def run(self) -> None:
        try:
            with psycopg.connect(self.conninfo, autocommit=True, application_name="bench-freshness-poller") as conn:
                while not self.stopping.is_set():
                    with self.lock:
                        ids = list(self.pending)
                    if ids:
                        self.poll(conn, ids)
                    self.stopping.wait(self.interval_s)
        except BaseException as exc:  # reported by the main thread
            self.error = exc

    def poll(self, conn: psycopg.Connection[Any], ids: list[str]) -> None:
        started = time.time()
        rows = conn.execute(_POLL_SQL, (ids,)).fetchall()
        self.polls += 1
        done: list[str] = []
        with self.lock:
            for product_id, core_version, enrichment_version, indexed_at in rows:
                write = self.pending.get(product_id)
                if write is None or core_version < 1:
                    continue
                if write.searchable_at is None:
                    # Only while no enrichment was merged does indexed_at still date the core insert.
                    write.searchable_exact = enrichment_version == 0
                    write.searchable_at = indexed_at if write.searchable_exact else started
                if enrichment_version >= core_version and write.enriched_at is None:
                    write.enriched_at = indexed_at  # the merge of the enrichment: nothing writes the row after it
                if self.settled(write):
                    done.append(product_id)
            for product_id in done:
                del self.pending[product_id]


# --- the search API sampler ----------------------------------------------------------------------------------


class ApiSampler:
    """Polls `GET /search?q=<sku>` for sampled products until each is the hit, with bounded concurrency."""

    def __init__(self, client: httpx.AsyncClient, search_url: str, interval_s: float, concurrency: int) -> None:
        self.client = client
        self.url = f"{search_url}/search"
        self.interval_s = interval_s
        self.slots = asyncio.Semaphore(concurrency)
        self.tasks: list[asyncio.Task[None]] = []
        self.deadline = math.inf  # monotonic; set once the writes are done
        self.requests = 0
        self.errors: Counter[str] = Counter()

    def sample(self, write: Write) -> None:
        self.tasks.append(asyncio.create_task(self._watch(write)))

    async def _watch(self, write: Write) -> None:
        while time.monotonic() < self.deadline:
            async with self.slots:
                started = time.time()
                try:
                    response = await self.client.get(self.url, params={"q": write.sku, "limit": 1})
                except httpx.HTTPError as exc:
                    self.errors[type(exc).__name__] += 1
                    response = None
                self.requests += 1
                write.api_polls += 1
            if response is not None:
                if response.status_code != 200:
                    self.errors[str(response.status_code)] += 1
                else:
                    hits = response.json()["hits"]
                    if hits and hits[0]["id"] == write.product_id:
                        write.api_seen_at = started
                        return
            await asyncio.sleep(self.interval_s)

    async def finish(self, deadline: float) -> None:
        self.deadline = deadline
        if self.tasks:
            await asyncio.gather(*self.tasks)


# --- load -----------------------------------------------------------------------------------------------------


def product_body(sku: str, rng: random.Random) -> dict[str, Any]:
    """A realistic create request; words come from small lists so the search lexicon hardly grows."""
    brand, adjective, material = rng.choice(BRANDS), rng.choice(ADJECTIVES), rng.choice(MATERIALS)
    kind, colour = rng.choice(TYPES), rng.choice(COLOURS)
    return {
        "sku": sku,
        "name": f"{adjective} {material} {kind}",
        "brand": brand,
        "description": (
            f"{adjective} {kind} in {colour} {material} from {brand}; garment dyed, pre-washed and soft from the "
            "first wear. Machine washable at 30 degrees."
        ),
        "price": f"{rng.randint(9, 199)}.{rng.choice(('00', '50', '90', '95', '99'))}",
        "currency": "EUR",
        "stock": rng.randint(0, 500),
        "attributes": {"color": colour, "material": material, "size": rng.choice(("S", "M", "L", "XL"))},
        "images": [f"https://img.example/{sku}/1.jpg", f"https://img.example/{sku}/2.jpg"],
        "status": "active",
    }


@dataclass
class Target:
    """Where and how to write and search."""

    api_url: str
    search_url: str
    key: str
    conninfo: str
    run: str
    max_in_flight: int
    poll_interval_s: float
    api_sample: int
    sampler_concurrency: int
    settle_timeout_s: float
    seed: int


async def offer_writes(
    target: Target,
    client: httpx.AsyncClient,
    skus: list[str],
    rate: float,
    on_created: Callable[[Write], None],
) -> tuple[list[Write], float]:
    """Release one POST every 1/rate s (open loop, at most `max_in_flight` sent); returns the writes and wall s."""
    rng = random.Random(f"{target.seed}-{skus[0] if skus else ''}")
    bodies = [json.dumps(product_body(sku, rng)).encode() for sku in skus]
    headers = {"Authorization": f"Bearer {target.key}", "Content-Type": "application/json"}
    slots = asyncio.Semaphore(target.max_in_flight)
    url = f"{target.api_url}/products"

    async def create(write: Write, body: bytes) -> None:
        async with slots:
            write.sent_wall = time.time()
            write.sent_perf = time.perf_counter()
            try:
                response = await client.post(url, content=body, headers=headers)
            except httpx.HTTPError as exc:
                write.status = type(exc).__name__
                write.done_perf = time.perf_counter()
                return
            write.done_perf = time.perf_counter()
            write.latency_s = write.done_perf - write.sent_perf
            write.status = response.status_code
            if response.status_code == 201:
                write.product_id = str(response.json()["id"])
                on_created(write)

    start = time.perf_counter() + 0.05
    writes: list[Write] = []
    tasks: list[asyncio.Task[None]] = []
    for n, (sku, body) in enumerate(zip(skus, bodies, strict=True)):
        due = start + n / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        write = Write(n, sku, due)
        writes.append(write)
        tasks.append(asyncio.create_task(create(write, body)))
    await asyncio.gather(*tasks)
    last = max((w.done_perf for w in writes if not math.isnan(w.done_perf)), default=start)
    return writes, last - start


async def measure(
    target: Target, rate: int, duration_s: float, phase: str, warmup: int, pids: dict[str, int]
) -> PhaseResult:
    """Warm up, then write at `rate` for `duration_s` and wait until every product settled (or the timeout)."""
    track_enrichment = phase == "running"
    limits = httpx.Limits(max_connections=target.max_in_flight, max_keepalive_connections=target.max_in_flight)
    search_limits = httpx.Limits(
        max_connections=target.sampler_concurrency, max_keepalive_connections=target.sampler_concurrency
    )
    timeout = httpx.Timeout(60.0)
    prefix = f"FR-{target.run}-{rate}-{phase[0]}"
    async with (
        httpx.AsyncClient(limits=limits, timeout=timeout) as client,
        httpx.AsyncClient(limits=search_limits, timeout=timeout) as search_client,
    ):
        # Warm-up: a few products, waited for; proves the pipeline (and a restarted enricher) is live.
        if warmup:
            poller = ReadModelPoller(target.conninfo, target.poll_interval_s, track_enrichment)
            poller.start()
            try:
                warm, _ = await offer_writes(
                    target, client, [f"{prefix}-w{n}" for n in range(warmup)], min(rate, 20), poller.add
                )
                if not all(w.status == 201 for w in warm):
                    raise RuntimeError(f"warm-up writes failed: {Counter(w.status for w in warm)}")
                await wait_settled(poller, time.monotonic() + max(60.0, target.settle_timeout_s), "warm-up")
            finally:
                poller.stopping.set()
                poller.join()

        poller = ReadModelPoller(target.conninfo, target.poll_interval_s, track_enrichment)
        sampler = ApiSampler(search_client, target.search_url, target.poll_interval_s, target.sampler_concurrency)

        def on_created(write: Write) -> None:
            poller.add(write)
            if write.n % target.api_sample == 0:
                sampler.sample(write)

        result = PhaseResult(rate, phase, duration_s)
        skus = [f"{prefix}-{n}" for n in range(int(rate * duration_s))]
        cpu_before = cpu_snapshot(pids)
        poller.start()
        try:
            result.writes, result.wall_s = await offer_writes(target, client, skus, rate, on_created)
            result.cpu = cpu_share(cpu_before, cpu_snapshot(pids))
            answered = time.monotonic()
            deadline = answered + target.settle_timeout_s
            await wait_settled(poller, deadline, None)
            await sampler.finish(deadline)
            result.settle_s = time.monotonic() - answered
        finally:
            poller.stopping.set()
            poller.join()
        result.api_requests = sampler.requests
        if sampler.errors:
            print(f"    search API sampler errors: {dict(sampler.errors)}")
    return result


async def wait_settled(poller: ReadModelPoller, deadline: float, what: str | None) -> None:
    """Wait (polling) until the poller has nothing pending, or the deadline; raise only for the warm-up."""
    while poller.unsettled() and time.monotonic() < deadline:
        if poller.error is not None:
            raise RuntimeError(f"read model poller failed: {poller.error!r}")
        await asyncio.sleep(0.02)
    if poller.error is not None:
        raise RuntimeError(f"read model poller failed: {poller.error!r}")
    if what and poller.unsettled():
        raise TimeoutError(f"{what}: {poller.unsettled()} products not searchable/enriched before the deadline")


def wait_enriched(conninfo: str, product_ids: list[str], timeout_s: float) -> tuple[int, float]:
    """Poll until every product is enriched in the read model; returns (still pending, seconds waited)."""
    started = time.monotonic()
    pending = len(product_ids)
    with psycopg.connect(conninfo, autocommit=True, application_name="bench-freshness-catch-up") as conn:
        while time.monotonic() - started < timeout_s:
            row = conn.execute(
                "SELECT count(*) FROM search.documents WHERE product_id = ANY(%s::uuid[])"
                " AND enrichment_version >= core_version AND core_version > 0",
                (product_ids,),
            ).fetchone()
            pending = len(product_ids) - (int(row[0]) if row else 0)
            if pending == 0:
                break
            time.sleep(0.1)
    return pending, time.monotonic() - started


# --- CPU accounting ----------------------------------------------------------------------------------------------


def stack_pids(config: StackConfig) -> dict[str, int]:
    """The stack's processes by name; "postgres" is the postmaster (its backends are counted with it)."""
    pids = {}
    for name in STACK_PROCESSES:
        process = ManagedProcess(name, config.root / "run", config.root / "log")
        pid = process.child_pid() or process.pid()  # the service itself, not its supervisor
        if pid:
            pids[name] = pid
    with contextlib.suppress(OSError, ValueError, IndexError):
        pids[POSTGRES] = int((config.postgres.data_dir / "postmaster.pid").read_text().split()[0])
    return pids


def postgres_cpu_s(postmaster: int) -> float | None:
    """CPU of the postmaster and its children (backends, autovacuum, ...) that run now."""
    total = proc_cpu_s(postmaster)
    if total is None:
        return None
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = stat.read_text().rpartition(")")[2].split()
            if int(fields[1]) == postmaster:  # fields[1] is the parent pid (field 4 of proc(5))
                total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


@dataclass
class CpuSnapshot:
    at: float
    processes: dict[str, float | None]
    machine: tuple[float, float]
    me: float


def cpu_snapshot(pids: dict[str, int]) -> CpuSnapshot:
    processes = {n: postgres_cpu_s(p) if n == POSTGRES else proc_cpu_s(p) for n, p in pids.items()}
    return CpuSnapshot(time.monotonic(), processes, machine_cpu(), time.process_time())


def cpu_share(before: CpuSnapshot, after: CpuSnapshot) -> dict[str, float]:
    """Busy share of one core per process, and of all cores for the machine."""
    wall = after.at - before.at
    shares: dict[str, float] = {}
    for name, start in before.processes.items():
        end = after.processes.get(name)
        if start is not None and end is not None and wall > 0:
            shares[name] = (end - start) / wall
    shares["load generator"] = (after.me - before.me) / wall if wall > 0 else math.nan
    busy = after.machine[0] - before.machine[0]
    total = after.machine[1] - before.machine[1]
    cores = os.cpu_count() or 1
    shares["everything else"] = busy / total * cores - sum(shares.values()) if total > 0 else math.nan
    shares["machine"] = busy / total if total > 0 else math.nan
    return shares


# --- report ------------------------------------------------------------------------------------------------------


def ms(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value * 1000:.0f}"


def print_table(columns: list[tuple[str, int]], rows: list[list[str]]) -> None:
    header = "".join(f"{name:>{width}}" for name, width in columns)
    print(header)
    print("-" * len(header))
    for cells in rows:
        print("".join(f"{cell:>{width}}" for cell, (_, width) in zip(cells, columns, strict=True)))


def print_report(results: list[PhaseResult], max_in_flight: int, api_sample: int) -> None:
    print()
    print(f"Writes: open loop, up to {max_in_flight} POSTs in flight; 'lag' = release -> send (waiting for a slot).")
    load_columns = [
        ("rate", 5),
        ("enricher", 9),
        ("offered/s", 10),
        ("achieved/s", 11),
        ("ok", 7),
        ("errors", 7),
        ("POST p50 ms", 12),
        ("POST p99 ms", 12),
        ("lag p50 ms", 11),
        ("lag p99 ms", 11),
    ]
    load_rows = []
    for r in results:
        ok = r.ok
        lags = [w.schedule_lag_s for w in r.writes if not math.isnan(w.sent_perf)]
        load_rows.append(
            [
                str(r.rate),
                r.phase,
                f"{r.offered_rate:.1f}",
                f"{r.achieved_rate:.1f}",
                str(len(ok)),
                str(len(r.writes) - len(ok)),
                ms(percentile([w.latency_s for w in ok], 50)),
                ms(percentile([w.latency_s for w in ok], 99)),
                ms(percentile(lags, 50)),
                ms(percentile(lags, 99)),
            ]
        )
    print_table(load_columns, load_rows)
    print()
    print("Freshness, ms. 'searchable' = POST sent -> row visible in search.documents (every product; 'exact%' dated")
    print("by indexed_at, the rest by the poll); 'after answer' = POST answered -> searchable (the pipeline's part);")
    print(f"'via API' = POST sent -> GET /search?q=<sku> returns it (every {api_sample}th product); 'enriched' = POST")
    print("sent -> enrichment_version >= core_version in the read model.")
    columns = [
        ("rate", 5),
        ("enricher", 9),
        ("srch p50", 9),
        ("srch p99", 9),
        ("srch max", 9),
        ("exact%", 7),
        ("after answer p50", 17),
        ("p99", 6),
        ("via API p50", 12),
        ("p99", 6),
        ("enriched p50", 13),
        ("p99", 6),
        ("max", 6),
        ("unsettled", 10),
    ]
    rows = []
    for r in results:
        ok = r.ok
        searchable = [w.searchable_at - w.sent_wall for w in ok if w.searchable_at is not None]
        after_answer = [w.searchable_at - (w.sent_wall + w.latency_s) for w in ok if w.searchable_at is not None]
        exact = sum(1 for w in ok if w.searchable_at is not None and w.searchable_exact)
        via_api = [w.api_seen_at - w.sent_wall for w in ok if w.api_seen_at is not None]
        enriched = [w.enriched_at - w.sent_wall for w in ok if w.enriched_at is not None]
        unsettled = sum(1 for w in ok if w.searchable_at is None or (r.phase == "running" and w.enriched_at is None))
        running = r.phase == "running"
        rows.append(
            [
                str(r.rate),
                r.phase,
                ms(percentile(searchable, 50)),
                ms(percentile(searchable, 99)),
                ms(max(searchable, default=math.nan)),
                f"{exact / len(ok) * 100:.0f}" if ok else "n/a",
                ms(percentile(after_answer, 50)),
                ms(percentile(after_answer, 99)),
                ms(percentile(via_api, 50)),
                ms(percentile(via_api, 99)),
                ms(percentile(enriched, 50)) if running else "-",
                ms(percentile(enriched, 99)) if running else "-",
                ms(max(enriched, default=math.nan)) if running else "-",
                str(unsettled),
            ]
        )
    print_table(columns, rows)
    print()
    print(
        "CPU during the write window (share of one core; 'everything else' = the rest of the machine's busy time,"
        " e.g. other workloads; 'machine' = share of all cores), settle time, search API probes:"
    )
    for r in results:
        cpu = ", ".join(f"{name} {share * 100:.0f}%" for name, share in r.cpu.items())
        errors = Counter(w.status for w in r.writes if w.status != 201)
        print(
            f"  {r.rate:>4}/s enricher {r.phase:<8} {cpu}; settled {r.settle_s:.1f} s after the last answer; "
            f"{r.api_requests} search API probes"
            + (f"; non-201: {dict(errors)}" if errors else "")
            + (f"; {r.catch_up}" if r.catch_up else "")
        )
    print()
    slow = 0
    for r in results:
        done = [(w, w.searchable_at) for w in r.ok if w.searchable_at is not None]
        p99 = percentile([at - w.sent_wall for w, at in done], 99)
        if p99 <= 1.0:
            continue
        slow += 1
        print(
            f"POST->searchable p99 above 1 s: {r.rate}/s, enricher {r.phase}: {ms(p99)} ms "
            f"(POST latency p99 {ms(percentile([w.latency_s for w in r.ok], 99))} ms, answer->searchable p99 "
            f"{ms(percentile([at - (w.sent_wall + w.latency_s) for w, at in done], 99))} ms)"
        )
    if not slow:
        print("POST->searchable p99 is at most 1 s in every phase.")


# --- main ----------------------------------------------------------------------------------------------------------


def parse_rates(text: str) -> list[int]:
    try:
        rates = [int(part) for part in text.split(",") if part.strip()]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a comma-separated list of integers: {text}") from exc
    if not rates or not all(1 <= r <= 2000 for r in rates):
        raise argparse.ArgumentTypeError("rates must be 1..2000 writes/s")
    return rates


@contextlib.contextmanager
def enricher_left_running(enricher: StackService) -> Iterator[None]:
    """Whatever happens, the enricher runs again at the end."""
    try:
        yield
    finally:
        if not enricher.running():
            pid = enricher.start()
            print(f"enricher started again (pid {pid})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rates", type=parse_rates, default=[50, 100, 200], help="writes/s (default 50,100,200)")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of writes per rate and phase")
    parser.add_argument("--max-in-flight", type=int, default=64, help="POSTs in flight at most (default 64)")
    parser.add_argument("--poll-interval", type=float, default=0.01, help="read model / search polling (s)")
    parser.add_argument("--api-sample", type=int, default=5, help="poll the search API for every n-th product")
    parser.add_argument("--sampler-concurrency", type=int, default=4, help="search API probes in flight at most")
    parser.add_argument("--settle-timeout", type=float, default=120.0, help="wait after the last write (s)")
    parser.add_argument("--catch-up-timeout", type=float, default=600.0, help="enricher backlog wait (s)")
    parser.add_argument("--warmup", type=int, default=20, help="unmeasured products before each phase")
    parser.add_argument("--phases", default="stopped,running", help="enricher phases to run, in order")
    parser.add_argument("--seed", type=int, default=7)
    port = os.environ.get("API_PORT", "8000")
    search_port = os.environ.get("SEARCH_PORT", "8001")
    parser.add_argument("--api-url", default=f"http://127.0.0.1:{port}")
    parser.add_argument("--search-url", default=f"http://127.0.0.1:{search_port}")
    args = parser.parse_args()

    phases = [p.strip() for p in args.phases.split(",") if p.strip()]
    if not phases or any(p not in ("stopped", "running") for p in phases):
        parser.error("--phases: a list of 'stopped' and 'running'")
    if not 1 <= args.duration <= 600 or not 1 <= args.max_in_flight <= 1000 or not 0 <= args.warmup <= 1000:
        parser.error("bounds: 1 <= --duration <= 600, 1 <= --max-in-flight <= 1000, 0 <= --warmup <= 1000")
    if not 0.001 <= args.poll_interval <= 1 or args.api_sample < 1 or not 1 <= args.sampler_concurrency <= 64:
        parser.error("bounds: 0.001 <= --poll-interval <= 1, --api-sample >= 1, 1 <= --sampler-concurrency <= 64")
    if not 1 <= args.settle_timeout <= 3600 or not 1 <= args.catch_up_timeout <= 3600:
        parser.error("bounds: --settle-timeout and --catch-up-timeout in 1..3600 s")
    api_url, search_url = args.api_url.rstrip("/"), args.search_url.rstrip("/")

    stack = find_stack(api_url, search_url)
    config, key, database_url = stack.config, stack.key, masked_url(stack.database_url)
    enricher = stack.service(ENRICHER)

    run = uuid.uuid4().hex[:6]
    target = Target(
        api_url=api_url,
        search_url=search_url,
        key=key,
        conninfo=stack.conninfo,
        run=run,
        max_in_flight=args.max_in_flight,
        poll_interval_s=args.poll_interval,
        api_sample=args.api_sample,
        sampler_concurrency=args.sampler_concurrency,
        settle_timeout_s=args.settle_timeout,
        seed=args.seed,
    )
    print(
        f"run {run}: API {api_url}, search {search_url}, database {database_url}, stack {config.root}, "
        f"{os.cpu_count()} CPUs; rates {args.rates}/s x {args.duration:g} s; phases {phases}"
    )
    results: list[PhaseResult] = []
    with enricher_left_running(enricher):
        for rate in args.rates:
            for phase in phases:
                if phase == "stopped":
                    enricher.stop()
                    print(f"  {rate}/s, enricher stopped ...", flush=True)
                else:
                    if not enricher.running():
                        enricher.start()
                    print(f"  {rate}/s, enricher running ...", flush=True)
                result = asyncio.run(measure(target, rate, args.duration, phase, args.warmup, stack_pids(config)))
                results.append(result)
                ok = result.ok
                print(f"    {len(ok)} created in {result.wall_s:.1f} s, settled after {result.settle_s:.1f} s")
                if phase == "stopped":
                    pid = enricher.start()
                    backlog = [w.product_id for w in ok if w.product_id]
                    pending, waited = wait_enriched(target.conninfo, backlog, args.catch_up_timeout)
                    result.catch_up = (
                        f"enricher restarted (pid {pid}): backlog of {len(backlog)} enriched in {waited:.1f} s "
                        f"({(len(backlog) - pending) / waited:.0f}/s incl. its start)"
                        + (f", {pending} still pending" if pending else "")
                    )
                    print(f"    {result.catch_up}")
    print_report(results, args.max_in_flight, args.api_sample)


if __name__ == "__main__":
    main()
