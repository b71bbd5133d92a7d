#!/usr/bin/env python
"""Import benchmark: end-to-end rows/s of a generated supplier feed (upload → job COMPLETED), beside a raw
PostgreSQL COPY of the same file into a scratch table, in the same run.

What is measured, against the PostgreSQL server and broker of `DATABASE_URL` / `KAFKA_BOOTSTRAP_SERVERS` (the
`make run` stack by default; nothing of theirs is touched):

1. Set-up (not timed as a result): a scratch database `catalog_bench_import_<run>` brought to the catalog schema;
   a temporary directory with the generated CSV and the object store; a `catalog-api` and a `catalog-importer`
   process pointed at the scratch database (`IMPORT_CHUNK_ROWS=--chunk-rows`), started like the platform starts
   them; a one-row warm-up import, so the importer has joined its consumer group before the clock starts.
   The feed has `--rows` rows: products of `--variants` rows sharing a `product_key` (variant SKU, `option:size`,
   `stock`; the first row also name, brand, description, price, currency, `attr:material`), i.e. every row goes
   through the shared ProductDraft validation, the one catalog write path (products, variants, SKU registry,
   outbox event), and the ledger.
2. Import: from the start of the upload (multipart, streamed from the file) until `GET /imports/{id}` reports
   COMPLETED (polled every 0.2 s); the upload alone is printed too. No relay runs: the products' events stay in
   the scratch outbox (publishing is the relay's part, see bench/relay.py), and the importer finds the job through
   its watchdog sweep (every 0.2 s here) since no `import.requested` reaches the broker.
3. Raw baseline: `COPY bench_raw_rows FROM STDIN (FORMAT csv, HEADER)` of the same file into a table with the same
   columns and no index, in the same database.

Printed: rows, seconds and rows/s of both, the ratio (what validation, the ledger and the outbox cost), CPU seconds
of the importer, the API and the PostgreSQL backends serving the scratch database (the server must run on this
machine), peak RSS of the importer and the API, and a check of what the import stored. Importer settings in the
environment reach the importer (e.g. `IMPORT_CHUNK_SLOTS=1`). The scratch database and the
temporary directory are removed at the end.

    .venv/bin/python bench/import.py [--rows 1000000] [--variants 4] [--chunk-rows 1000] [--timeout 900]
"""

from __future__ import annotations

import argparse
import os
import secrets
import socket
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import httpx
import psycopg
from process_stats import Phase
from sqlalchemy.engine import make_url

from catalog_core.adapters.migrations import upgrade
from catalog_kit.db import libpq_conninfo
from catalog_kit.settings import CatalogSettings
from catalog_stack.processes import ManagedProcess
from catalog_stack.services import bin_path

HEADER = "product_key,sku,name,brand,description,price,currency,stock,option:size,attr:material\n"
SIZES = ("XS", "S", "M", "L", "XL", "XXL", "3XL", "4XL")
POLL_S = 0.2
RAW_TABLE = """
CREATE TABLE bench_raw_rows (
    product_key text, sku text, name text, brand text, description text, price numeric(20, 4), currency text,
    stock integer, size text, material text
)
"""


def write_feed(path: Path, rows: int, variants: int, run: str) -> int:
    """The feed file; returns its size in bytes."""
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write(HEADER)
        for start in range(0, rows, variants):
            key = f"B{run}-{start // variants}"
            for v in range(min(variants, rows - start)):
                size = SIZES[v % len(SIZES)]
                sku = f"{key}-{size}" if v < len(SIZES) else f"{key}-{v}"
                if v == 0:
                    n = start // variants
                    out.write(
                        f"{key},{sku},Linen tee {n},Acme,Relaxed fit tee in washed linen,{19 + n % 50}.90,EUR,"
                        f"{n % 20},{size},linen\n"
                    )
                else:
                    out.write(f"{key},{sku},,,,,,{(start + v) % 20},{size},\n")
    return path.stat().st_size


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_ready(url: str, process: ManagedProcess, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - loopback
                if response.status == 200:
                    return
        except OSError:
            pass
        if process.pid() is None:
            raise RuntimeError(f"{process.name} exited; see {process.log_file}")
        time.sleep(POLL_S)
    raise TimeoutError(f"{url} not ready after {timeout}s")


def wait_job(http: httpx.Client, job_id: str, timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        job: dict[str, Any] = http.get(f"/imports/{job_id}").json()
        if job["state"] not in ("PENDING", "PROCESSING"):
            return job
        if time.monotonic() > deadline:
            raise TimeoutError(f"job {job_id} still {job['state']} after {timeout}s: {job['rows']}")
        time.sleep(POLL_S)


def upload(http: httpx.Client, path: Path) -> dict[str, Any]:
    with path.open("rb") as feed:
        response = http.post("/imports", files={"file": (path.name, feed, "text/csv")}, data={"format": "csv"})
    response.raise_for_status()
    body: dict[str, Any] = response.json()
    return body


def cpu_seconds(pid: int | None) -> float:
    if pid is None:
        return float("nan")
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def peak_rss_mib(pid: int | None) -> float:
    if pid is None:
        return float("nan")
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def backend_cpu(conninfo: str, db_name: str) -> dict[int, float]:
    """CPU seconds so far of each PostgreSQL backend serving the scratch database (the importer's and the API's
    connections), by pid; the server must run on this machine."""
    with psycopg.connect(conninfo, autocommit=True) as conn:
        pids = [
            int(row[0])
            for row in conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()", (db_name,)
            )
        ]
    found = {}
    for pid in pids:
        try:
            found[pid] = cpu_seconds(pid)
        except OSError:  # gone meanwhile, or not on this machine
            continue
    return found


def raw_copy(conninfo: str, path: Path, rows: int) -> Phase:
    copy_sql = "COPY bench_raw_rows FROM STDIN (FORMAT csv, HEADER true)"
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(RAW_TABLE)
        started = time.perf_counter()
        with conn.transaction(), conn.cursor() as cur, cur.copy(copy_sql) as copy, path.open("rb") as f:
            while chunk := f.read(1024 * 1024):
                copy.write(chunk)
        elapsed = time.perf_counter() - started
        count = conn.execute("SELECT count(*) FROM bench_raw_rows").fetchone()
    if count is None or count[0] != rows:
        raise RuntimeError(f"COPY stored {count} rows, expected {rows}")
    return Phase("raw COPY into a scratch table", rows, elapsed)


def stored(conninfo: str) -> dict[str, int]:
    with psycopg.connect(conninfo) as conn:
        counts = {}
        for table in ("products", "variants", "import_rows", "outbox"):
            row = conn.execute(f"SELECT count(*) FROM {table}").fetchone()
            counts[table] = int(row[0]) if row else -1
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000, help="feed rows (default 1000000)")
    parser.add_argument("--variants", type=int, default=4, help="rows per product (default 4)")
    parser.add_argument("--chunk-rows", type=int, default=1000, help="IMPORT_CHUNK_ROWS (default 1000)")
    parser.add_argument("--timeout", type=float, default=900.0, help="give up on the import after this long")
    args = parser.parse_args()
    if not 1 <= args.rows <= 5_000_000 or not 1 <= args.variants <= 100 or not 1 <= args.chunk_rows <= 100_000:
        parser.error("bounds: 1 <= --rows <= 5e6, 1 <= --variants <= 100, 1 <= --chunk-rows <= 1e5")

    settings = CatalogSettings()
    run = uuid.uuid4().hex[:8]
    db_name = f"catalog_bench_import_{run}"
    scratch_url = (
        make_url(settings.database_url.get_secret_value()).set(database=db_name).render_as_string(hide_password=False)
    )
    admin = libpq_conninfo(settings.database_url)
    scratch = libpq_conninfo(scratch_url)
    print(f"run {run}: database {db_name}, broker {settings.kafka_bootstrap_servers}, {os.cpu_count()} CPUs")

    with tempfile.TemporaryDirectory(prefix="bench-import-") as tmp:
        work = Path(tmp)
        feed = work / "feed.csv"
        started = time.perf_counter()
        feed_bytes = write_feed(feed, args.rows, args.variants, run)
        print(f"  generated {args.rows} rows ({feed_bytes / 1e6:.1f} MB) in {time.perf_counter() - started:.2f} s")
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{db_name}"')
        key = secrets.token_urlsafe(16)
        port = free_port()
        env = {
            **os.environ,
            "DATABASE_URL": scratch_url,
            "KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers,
            "OBJECT_STORE_DIR": str(work / "objects"),
            "API_KEYS": key,
            "API_PORT": str(port),
            "MAX_IMPORT_BYTES": str(max(feed_bytes * 2, 1 << 20)),
            "IMPORT_CHUNK_ROWS": str(args.chunk_rows),
            "IMPORT_WATCHDOG_INTERVAL_S": str(POLL_S),
            "LOG_LEVEL": "WARNING",
        }
        api = ManagedProcess(f"bench-api-{run}", work / "run", work / "log")
        importer = ManagedProcess(f"bench-importer-{run}", work / "run", work / "log")
        try:
            upgrade(scratch_url)
            api.start([bin_path("catalog-api")], env=env, cwd=work)
            importer.start([bin_path("catalog-importer")], env=env, cwd=work)
            wait_ready(f"http://127.0.0.1:{port}/readyz", api)
            with httpx.Client(
                base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {key}"}, timeout=600
            ) as http:
                warmup = work / "warmup.csv"
                warmup.write_text(HEADER + f"W{run},W{run}-S,Warm-up,Acme,,1.00,EUR,1,S,\n")
                assert wait_job(http, upload(http, warmup)["id"], timeout=120)["state"] == "COMPLETED"
                cpu_before = cpu_seconds(importer.pid()), cpu_seconds(api.pid())
                backends_before = backend_cpu(admin, db_name)

                started = time.perf_counter()
                submitted = upload(http, feed)
                uploaded = time.perf_counter() - started
                job = wait_job(http, submitted["id"], args.timeout)
                elapsed = time.perf_counter() - started
                cpu_importer = cpu_seconds(importer.pid()) - cpu_before[0]
                cpu_api = cpu_seconds(api.pid()) - cpu_before[1]
                backends_after = backend_cpu(admin, db_name)
                cpu_db = sum(cpu - backends_before.get(pid, 0.0) for pid, cpu in backends_after.items())
                rss_importer, rss_api = peak_rss_mib(importer.pid()), peak_rss_mib(api.pid())
            if job["state"] != "COMPLETED":
                raise RuntimeError(f"the import ended {job['state']}: {job['error']} {job['error_summary']}")
            counts = stored(scratch)
            imported = Phase("import (upload → COMPLETED)", args.rows, elapsed)
            raw = raw_copy(scratch, feed, args.rows)
        finally:
            importer.stop()
            api.stop()
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')

    products = -(-args.rows // args.variants)
    print()
    print(
        f"supplier-feed import vs raw COPY: {args.rows} rows ({feed_bytes / 1e6:.1f} MB), {products} products of "
        f"{args.variants} variant rows, chunks of {args.chunk_rows} rows"
    )
    header = f"{'phase':<34}{'rows':>10}{'seconds':>10}{'rows/s':>12}"
    print(header)
    print("-" * len(header))
    for phase in (imported, raw):
        print(f"{phase.name:<34}{phase.rows:>10}{phase.seconds:>10.2f}{phase.rate:>12.0f}")
    print("-" * len(header))
    print(
        f"ratio import / raw COPY: {imported.rate / raw.rate:.3f} (raw COPY is {raw.rate / imported.rate:.1f}x faster)"
    )
    print(
        f"upload alone: {uploaded:.2f} s ({feed_bytes / uploaded / 1e6:.0f} MB/s); job's own rate: "
        f"{job['rows_per_second']} rows/s from claim to finish"
    )
    print(
        f"CPU during the import: importer {cpu_importer:.1f} s, API {cpu_api:.1f} s, PostgreSQL backends "
        f"{cpu_db:.1f} s; "
        f"peak RSS: importer {rss_importer:.0f} MiB, API {rss_api:.0f} MiB"
    )
    expected = {"products": products + 1, "variants": args.rows + 1, "import_rows": args.rows + 1}
    check = "ok" if all(counts[k] == v for k, v in expected.items()) else f"MISMATCH, expected {expected}"
    print(
        f"stored (incl. the 1-row warm-up): {counts['products']} products, {counts['variants']} variants, "
        f"{counts['import_rows']} ledger rows, {counts['outbox']} outbox events: {check}"
    )


if __name__ == "__main__":
    main()
