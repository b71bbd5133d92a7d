"""How a big failed-row download behaves: a job with N failed ledger rows (written with one INSERT … SELECT) on a
scratch database, downloaded as CSV and JSON Lines through the real app on uvicorn; prints rows/s and how much the
serving process's peak memory grew (it must not grow with N: the ledger is streamed from a server-side cursor).

    .venv/bin/python bench/ledger_download.py --rows 1000000

Needs a PostgreSQL: DATABASE_URL, else the `catalog-stack up` one (loopback only).
"""

import argparse
import threading
import time
import uuid

import httpx
import psycopg
import uvicorn
from stack_access import scratch_database

from catalog_api.entrypoints.http import create_app
from catalog_api.settings import ApiSettings
from catalog_stack.infra import migrate

KEY = "bench-admin-key"


def peak_rss_mb() -> float:
    """This process's peak resident memory (VmHWM), in MB."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


def seed(conninfo: str, rows: int) -> uuid.UUID:
    job_id = uuid.uuid4()
    with psycopg.connect(conninfo) as conn:
        conn.execute(
            "INSERT INTO import_jobs (id, state, mode, format, file_name, object_key, file_bytes, file_sha256, "
            "submitted_by, rows_processed, rows_failed) VALUES (%s, 'COMPLETED_WITH_ERRORS', 'import', 'csv', "
            "'bench.csv', 'none', 0, '', 'bench', %s, %s)",
            (job_id, rows, rows),
        )
        conn.execute(
            "INSERT INTO import_rows (job_id, row_number, line_number, sku, product_sku, status, category, field, "
            "message, errors) SELECT %s, n, n + 1, '=SKU-' || n, 'P-' || n, 'failed', 'VALIDATION', 'price', "
            "'price: EUR prices have at most 2 decimals', "
            '\'[{"field": "price", "message": "at most 2 decimals"}]\'::jsonb '
            "FROM generate_series(1, %s) AS n",
            (job_id, rows),
        )
    return job_id


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    database = scratch_database("bench_ledger")
    database.create()
    try:
        migrate(database.url)
        job_id = seed(database.conninfo, args.rows)
        settings = ApiSettings(database_url=database.url, api_keys=f"{KEY}=admin")
        server = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=0, log_config=None))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        while not server.started:
            time.sleep(0.05)
        port = server.servers[0].sockets[0].getsockname()[1]
        try:
            with httpx.Client(
                base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {KEY}"}
            ) as client:
                for extension in ("csv", "jsonl"):
                    before = peak_rss_mb()
                    started = time.perf_counter()
                    size = 0
                    with client.stream("GET", f"/imports/{job_id}/rows.{extension}", timeout=600) as response:
                        response.raise_for_status()
                        for chunk in response.iter_raw():
                            size += len(chunk)
                    seconds = time.perf_counter() - started
                    print(
                        f"{extension}: {args.rows:,} failed rows, {size / 1e6:,.0f} MB in {seconds:.1f} s "
                        f"({args.rows / seconds:,.0f} rows/s); peak memory of the process "
                        f"{before:,.0f} → {peak_rss_mb():,.0f} MB"
                    )
        finally:
            server.should_exit = True
            thread.join(timeout=30)
    finally:
        database.drop()


if __name__ == "__main__":
    main()
