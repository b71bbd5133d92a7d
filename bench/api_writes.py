#!/usr/bin/env python
"""Product API write benchmark: `POST /products` throughput and latency against a bare-insert baseline.

What is measured, in one run:

1. The running product API (`make run`, default http://127.0.0.1:8000): `--requests` creates with unique SKUs,
   sent by `--concurrency` closed-loop workers (each sends its next request when the previous one answered),
   over keep-alive connections with httpx. Every create is a full product write: validation, the product row,
   the catalog-wide SKU claim and the outbox event, in one transaction.
2. A bare baseline started by this script in a subprocess on a free 127.0.0.1 port: a minimal FastAPI app on
   the same uvicorn, with one sync `POST` endpoint that inserts the JSON body into a scratch table
   (`bench_bare_insert_<run>`, created and dropped here) through SQLAlchemy, with the same database URL and the
   project's engine factory (`catalog_kit.db.make_engine`, same pool size). It gets the same bodies and load.

Both get `--warmup` requests first, not counted. Printed: requests/s, latency p50/p99/max, errors, the ratio
API / bare throughput, CPU per request of each server process (from /proc) and of the load generator, and the
peak RSS (VmHWM) of the API process (pid from `.local/run/product-api.pid`) and of the bare server.

The load generator runs on the same machine as the servers and PostgreSQL and takes CPU from them; compare the
two rows with each other rather than with figures from another machine.

    .venv/bin/python bench/api_writes.py [--requests 3000] [--concurrency 16] [--base-url http://127.0.0.1:8000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
from process_stats import percentile, proc_cpu_s, proc_memory_kib

REPO = Path(__file__).resolve().parents[1]
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}
# The API's default pool (ApiSettings.db_pool_size); the bare app uses the same.
DB_POOL_SIZE = 10


@dataclass
class LoadResult:
    """Outcome of one measured load phase."""

    name: str
    wall_s: float
    latencies_s: list[float] = field(default_factory=list)
    statuses: Counter[int | str] = field(default_factory=Counter)
    server_cpu_s: float | None = None  # user + system CPU of the server process during the measured phase
    client_cpu_s: float = 0.0  # CPU of this load generator during the measured phase

    @property
    def ok(self) -> int:
        return len(self.latencies_s)

    @property
    def errors(self) -> int:
        return sum(self.statuses.values()) - self.ok

    @property
    def throughput(self) -> float:
        return self.ok / self.wall_s if self.wall_s > 0 else 0.0


def product_body(run: str, n: int) -> bytes:
    """A realistic create request with a SKU unique to this run and request."""
    return json.dumps(
        {
            "sku": f"BENCH-{run}-{n}",
            "name": f"Linen tee {n}",
            "brand": "Acme",
            "description": "Relaxed fit tee in washed linen, garment dyed; breathable and soft from the first wear.",
            "price": "19.90",
            "currency": "EUR",
            "stock": n % 50,
            "attributes": {"color": "red", "size": "M", "material": "linen"},
            "images": [f"https://img.example/{run}/{n}/1.jpg", f"https://img.example/{run}/{n}/2.jpg"],
        }
    ).encode()


async def run_load(
    name: str,
    url: str,
    bodies: list[bytes],
    concurrency: int,
    headers: dict[str, str],
    warmup: int,
    server_pid: int | None,
) -> LoadResult:
    """POST every body to `url` from `concurrency` closed-loop workers; the first `warmup` are not measured."""
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    timeout = httpx.Timeout(60.0)
    request_headers = {"Content-Type": "application/json", **headers}
    async with httpx.AsyncClient(limits=limits, timeout=timeout) as client:

        async def drive(batch: list[bytes], result: LoadResult) -> None:
            position = 0

            async def worker() -> None:
                nonlocal position
                while position < len(batch):
                    body = batch[position]
                    position += 1
                    started = time.perf_counter()
                    try:
                        response = await client.post(url, content=body, headers=request_headers)
                    except httpx.HTTPError as exc:
                        result.statuses[type(exc).__name__] += 1
                        continue
                    elapsed = time.perf_counter() - started
                    result.statuses[response.status_code] += 1
                    if response.status_code == 201:
                        result.latencies_s.append(elapsed)

            await asyncio.gather(*(worker() for _ in range(concurrency)))

        await drive(bodies[:warmup], LoadResult(f"{name} warm-up", 0.0))
        result = LoadResult(name, 0.0)
        server_cpu = proc_cpu_s(server_pid)
        client_cpu = time.process_time()
        started = time.perf_counter()
        await drive(bodies[warmup:], result)
        result.wall_s = time.perf_counter() - started
        result.client_cpu_s = time.process_time() - client_cpu
        server_cpu_after = proc_cpu_s(server_pid)
        if server_cpu is not None and server_cpu_after is not None:
            result.server_cpu_s = server_cpu_after - server_cpu
    return result


# --- the bare baseline server (runs in a subprocess: `--bare-server-fd`) -----------------------------------


def serve_bare(fd: int, database_url: str, table: str) -> None:
    """Serve the minimal app on the inherited listening socket until SIGTERM."""
    import uvicorn
    from fastapi import Body, FastAPI
    from fastapi.responses import JSONResponse
    from sqlalchemy import BigInteger, Column, MetaData, Table, insert
    from sqlalchemy.dialects.postgresql import JSONB

    from catalog_kit.db import make_engine, make_session_factory

    bare = Table(
        table, MetaData(), Column("id", BigInteger, primary_key=True, autoincrement=True), Column("body", JSONB)
    )
    sessions = make_session_factory(make_engine(database_url, DB_POOL_SIZE))
    app = FastAPI()

    @app.post("/insert", status_code=201)
    def insert_body(body: dict[str, Any] = Body(...)) -> JSONResponse:  # noqa: B008 - FastAPI's idiom
        with sessions() as session, session.begin():
            new_id = session.execute(insert(bare).values(body=body).returning(bare.c.id)).scalar_one()
        return JSONResponse({"id": new_id}, 201)

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    sock = socket.socket(fileno=fd)
    config = uvicorn.Config(app, log_config=None, access_log=False, log_level="warning")
    uvicorn.Server(config).run(sockets=[sock])


@dataclass
class BareServer:
    """The baseline subprocess and the address it listens on."""

    process: subprocess.Popen[bytes]
    base_url: str


def start_bare(database_url: str, table: str) -> BareServer:
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(1024)
    listener.set_inheritable(True)
    port = listener.getsockname()[1]
    try:
        process = subprocess.Popen(
            [
                sys.executable,
                str(Path(__file__).resolve()),
                "--bare-server-fd",
                str(listener.fileno()),
                "--bare-table",
                table,
                "--database-url",
                database_url,
            ],
            pass_fds=(listener.fileno(),),
            stdin=subprocess.DEVNULL,
        )
    finally:
        listener.close()  # the child holds its own copy
    server = BareServer(process, f"http://127.0.0.1:{port}")
    deadline = time.monotonic() + 30
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"bare server exited with {process.returncode} during start")
        try:
            if httpx.get(f"{server.base_url}/healthz", timeout=2).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            stop_process(process)
            raise TimeoutError("bare server not ready after 30 s")
        time.sleep(0.05)


def stop_process(process: subprocess.Popen[bytes], timeout: float = 15.0) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout)


# --- helpers ------------------------------------------------------------------------------------------------


def api_pid(pid_file: Path) -> int | None:
    """The product API's pid from the stack's pid file, if that process still runs the API."""
    try:
        pid = int(pid_file.read_text().split()[0])
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, ValueError, IndexError):
        return None
    return pid if b"catalog-api" in cmdline else None


def fmt_mib(kib: int | None) -> str:
    return "n/a" if kib is None else f"{kib / 1024:.1f} MiB"


def check_loopback(url: str) -> None:
    host = urlsplit(url).hostname
    if host not in LOOPBACK_HOSTS:
        raise SystemExit(f"refusing to load a non-loopback host: {url}")


def create_table(database_url: str, table: str) -> None:
    from sqlalchemy import text

    from catalog_kit.db import make_engine

    engine = make_engine(database_url, 1)
    with engine.begin() as conn:
        conn.execute(text(f'CREATE TABLE "{table}" (id bigserial PRIMARY KEY, body jsonb NOT NULL)'))
    engine.dispose()


def drop_table(database_url: str, table: str) -> int:
    """Drop the scratch table; returns how many rows it held."""
    from sqlalchemy import text

    from catalog_kit.db import make_engine

    engine = make_engine(database_url, 1)
    with engine.begin() as conn:
        rows = int(conn.execute(text(f'SELECT count(*) FROM "{table}"')).scalar_one())
        conn.execute(text(f'DROP TABLE IF EXISTS "{table}"'))
    engine.dispose()
    return rows


def print_report(args: argparse.Namespace, results: list[LoadResult], memory: list[tuple[str, str]]) -> None:
    print()
    print(f"creates: {args.requests} measured (+{args.warmup} warm-up) per target, {args.concurrency} in flight")
    columns = ("ok", "errors", "wall s", "req/s", "p50 ms", "p99 ms", "max ms")
    header = f"{'target':<30}" + "".join(f"{c:>9}" for c in columns)
    print(header)
    print("-" * len(header))
    for r in results:
        p50, p99 = percentile(r.latencies_s, 50) * 1000, percentile(r.latencies_s, 99) * 1000
        top = max(r.latencies_s, default=math.nan) * 1000
        print(
            f"{r.name:<30}{r.ok:>9}{r.errors:>9}{r.wall_s:>9.2f}{r.throughput:>9.1f}{p50:>9.2f}{p99:>9.2f}{top:>9.2f}"
        )
    api, bare = results
    ratio = api.throughput / bare.throughput if bare.throughput else math.nan
    print("-" * len(header))
    p50_ratio = percentile(api.latencies_s, 50) / percentile(bare.latencies_s, 50)
    print(f"ratio API / bare throughput: {ratio:.3f}   (API p50 latency is {p50_ratio:.2f}x the bare one)")
    for r in results:
        server = "n/a" if r.server_cpu_s is None else f"{r.server_cpu_s / max(r.ok, 1) * 1000:.2f} ms"
        print(
            f"CPU per request, {r.name:<30} server {server}, load generator "
            f"{r.client_cpu_s / max(r.ok, 1) * 1000:.2f} ms (server process busy "
            f"{(r.server_cpu_s or 0) / r.wall_s * 100:.0f}% of a core)"
        )
    for r in results:
        other = {k: v for k, v in r.statuses.items() if k != 201}
        if other:
            print(f"non-201 outcomes of {r.name}: {dict(other)}")
    for name, value in memory:
        print(f"{name:<36} {value}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=3000, help="measured requests per target (default 3000)")
    parser.add_argument("--concurrency", type=int, default=16, help="requests in flight (default 16)")
    parser.add_argument("--base-url", default="http://127.0.0.1:8000", help="the running product API")
    parser.add_argument("--warmup", type=int, default=100, help="unmeasured requests per target first (default 100)")
    parser.add_argument("--api-key-file", type=Path, default=REPO / ".local" / "api-key")
    parser.add_argument("--api-pid-file", type=Path, default=REPO / ".local" / "run" / "product-api.pid")
    parser.add_argument("--bare-server-fd", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--bare-table", help=argparse.SUPPRESS)
    parser.add_argument("--database-url", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.bare_server_fd is not None:
        serve_bare(args.bare_server_fd, args.database_url, args.bare_table)
        return

    from catalog_kit.db import masked_url
    from catalog_kit.settings import CatalogSettings

    if not 1 <= args.requests <= 1_000_000 or not 1 <= args.concurrency <= 1000 or not 0 <= args.warmup <= 100_000:
        parser.error("bounds: 1 <= --requests <= 1e6, 1 <= --concurrency <= 1000, 0 <= --warmup <= 1e5")
    base_url = args.base_url.rstrip("/")
    check_loopback(base_url)
    database_url = CatalogSettings().database_url.get_secret_value()
    try:
        key = args.api_key_file.read_text().strip()
    except OSError as exc:
        raise SystemExit(f"no write key at {args.api_key_file} ({exc}); start the stack with `make run`") from exc
    try:
        ready = httpx.get(f"{base_url}/readyz", timeout=5)
    except httpx.HTTPError as exc:
        raise SystemExit(f"the API at {base_url} does not answer ({exc}); start it with `make run`") from exc
    if ready.status_code != 200:
        raise SystemExit(f"the API at {base_url} is not ready: {ready.status_code} {ready.text}")

    run = uuid.uuid4().hex[:10]
    total = args.warmup + args.requests
    api_bodies = [product_body(run, n) for n in range(total)]
    bare_bodies = [product_body(f"{run}b", n) for n in range(total)]
    pid = api_pid(args.api_pid_file)
    memory_before = proc_memory_kib(pid) if pid else {}

    print(f"run {run}: API {base_url} (pid {pid or 'unknown'}), database {masked_url(database_url)}")
    api = asyncio.run(
        run_load(
            "product API POST /products",
            f"{base_url}/products",
            api_bodies,
            args.concurrency,
            {"Authorization": f"Bearer {key}"},
            args.warmup,
            pid,
        )
    )
    memory_after = proc_memory_kib(pid) if pid else {}
    print(f"  API done: {api.throughput:.1f} req/s")

    table = f"bench_bare_insert_{run}"
    create_table(database_url, table)
    bare_memory: dict[str, int] = {}
    try:
        server = start_bare(database_url, table)
        try:
            print(f"  bare server at {server.base_url} (pid {server.process.pid}), table {table}")
            bare = asyncio.run(
                run_load(
                    "bare FastAPI + 1 INSERT",
                    f"{server.base_url}/insert",
                    bare_bodies,
                    args.concurrency,
                    {},
                    args.warmup,
                    server.process.pid,
                )
            )
            bare_memory = proc_memory_kib(server.process.pid)
        finally:
            stop_process(server.process)
    finally:
        stored = drop_table(database_url, table)
    print(f"  bare done: {bare.throughput:.1f} req/s ({stored} rows inserted, table dropped)")

    memory = [
        ("API peak RSS (VmHWM, since start)", fmt_mib(memory_after.get("VmHWM"))),
        (
            "API RSS before / after the run",
            f"{fmt_mib(memory_before.get('VmRSS'))} / {fmt_mib(memory_after.get('VmRSS'))}",
        ),
        ("bare server peak RSS (VmHWM)", fmt_mib(bare_memory.get("VmHWM"))),
        ("CPU cores on this machine", str(os.cpu_count())),
    ]
    print_report(args, [api, bare], memory)


if __name__ == "__main__":
    main()
