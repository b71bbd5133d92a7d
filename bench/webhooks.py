#!/usr/bin/env python
"""Webhook dispatcher benchmark: deliveries/s from due rows to 2xx answers, beside plain signed POSTs.

What is measured, in one run against the `make run` PostgreSQL server (nothing of its catalog is touched):

1. Set-up (not timed): a scratch database `catalog_bench_webhooks_<run>` with the catalog chain, one subscription to
   a receiver on 127.0.0.1 (a threaded `http.server` answering 204, allowlisted like `OUTBOUND_ALLOW` does), and
   `--deliveries` deliveries made by `DeliveryStore.fan_out` (one event each, ~600-byte bodies).
2. Dispatcher: `DeliveryLoop.run_due()` with the real `DeliveryStore` and the `OutboundClient` sender, `--batch`
   deliveries claimed and sent at once (`WEBHOOK_BATCH`), timed until every delivery is recorded delivered.
3. Baseline: the same bodies signed and POSTed by the same number of threads through a plain `httpx.Client`
   (no claims, no policy, no records).

Printed: deliveries, seconds and deliveries/s for both and the ratio. The scratch database is dropped at the end.

    .venv/bin/python bench/webhooks.py [--deliveries 2000] [--batch 20]
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from threading import Thread

import httpx
from sqlalchemy import func, select
from stack_access import scratch_database

from catalog_core.adapters.migrations import upgrade
from catalog_core.adapters.webhooks import WebhookRepository, webhook_deliveries
from catalog_core.domain.webhooks import new_secret, webhook_body
from catalog_kit.db import make_engine, make_session_factory
from catalog_kit.outbound import OutboundClient
from catalog_kit.outbound_policy import OutboundPolicy
from catalog_webhooks.adapters.deliveries import DeliveryStore
from catalog_webhooks.adapters.sender import HttpSender
from catalog_webhooks.domain.backoff import RetrySchedule
from catalog_webhooks.domain.events import WebhookEvent
from catalog_webhooks.domain.signing import signed_headers
from catalog_webhooks.service_layer.dispatch import DeliveryLoop


class Answer204(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as receivers behind a load balancer do

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length", "0")))
        self.send_response(204)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--deliveries", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=20)
    args = parser.parse_args()

    receiver = ThreadingHTTPServer(("127.0.0.1", 0), Answer204)
    Thread(target=receiver.serve_forever, daemon=True).start()
    address = f"127.0.0.1:{receiver.server_address[1]}"
    url = f"http://{address}/hook"
    scratch = scratch_database("catalog_bench_webhooks")
    scratch.create()
    engine = make_engine(scratch.url, pool_size=args.batch + 2)
    try:
        upgrade(scratch.url)
        sessions = make_session_factory(engine)
        secret = new_secret()
        with sessions() as s, s.begin():
            WebhookRepository(s).add_subscription(
                url=url, event_types=["import.completed"], secret=secret, description=None, created_by=None
            )
        store = DeliveryStore(sessions)
        now = datetime.now(UTC) + timedelta(seconds=1)
        data = {"job_id": str(uuid.uuid4()), "padding": "x" * 500}
        events = [
            WebhookEvent(str(uuid.uuid4()), "import.completed", now, webhook_body("import.completed", now, data))
            for _ in range(args.deliveries)
        ]
        store.fan_out(events)

        client = OutboundClient(OutboundPolicy.parse(address, "80,443"), timeout_s=5, max_connections=args.batch)
        loop = DeliveryLoop(store, HttpSender(client, 10.0), RetrySchedule(), batch=args.batch)
        start = time.perf_counter()
        sent = asyncio.run(loop.run_due())
        dispatcher_s = time.perf_counter() - start
        with sessions() as s:
            delivered = s.execute(select(func.count()).where(webhook_deliveries.c.state == "delivered")).scalar_one()

        bodies = [e.body.encode() for e in events]
        with httpx.Client(limits=httpx.Limits(max_connections=args.batch)) as plain:

            def post(item: tuple[str, bytes]) -> int:
                message_id, body = item
                headers = signed_headers(secret, message_id, int(time.time()), body)
                return plain.post(url, content=body, headers=headers).status_code

            start = time.perf_counter()
            with ThreadPoolExecutor(args.batch) as pool:
                statuses = list(pool.map(post, [(e.event_id, b) for e, b in zip(events, bodies, strict=True)]))
            plain_s = time.perf_counter() - start
        assert all(s == 204 for s in statuses)
        print(f"deliveries: {args.deliveries}, batch {args.batch}; sent {sent}, delivered {delivered}")
        print(f"dispatcher: {dispatcher_s:.2f} s, {args.deliveries / dispatcher_s:,.0f} deliveries/s")
        print(f"plain POSTs: {plain_s:.2f} s, {args.deliveries / plain_s:,.0f} /s")
        print(f"ratio dispatcher / plain: {plain_s / dispatcher_s:.2f}")
    finally:
        engine.dispose()
        scratch.drop()
        receiver.shutdown()


if __name__ == "__main__":
    main()
