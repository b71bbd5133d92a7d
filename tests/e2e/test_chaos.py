"""Faults are normal: steady writes while processes are killed and the broker and the database restart.

A stack of its own (own PostgreSQL, own broker, own ports, all on 127.0.0.1) runs every service under its
supervisor. A writer creates and patches products the whole time, retrying what the API asks it to retry (503 with
Retry-After, connections refused during a restart). Meanwhile the test SIGKILLs the relay, the indexer, the
enricher and the importer (the last in the middle of an import), restarts the broker, and stops PostgreSQL with
`-m immediate` and starts it again. Nobody steps in afterwards; the test then waits (generously) until every
acknowledged product is in the read model at its stored version and enriched, and checks that nothing was
dead-lettered and no client saw a 500.

It prints the figures: events written, each fault and how long until a product created right after it was
searchable and enriched.
"""

import os
import shutil
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from catalog_kit.db import libpq_conninfo
from catalog_kit.settings import CatalogSettings
from catalog_schemas.topics import PROCESSORS
from catalog_stack.infra import Endpoints, StackConfig, start_infrastructure, stop_infrastructure
from catalog_stack.services import HEALTH_SERVICES, platform_services, service_process, start_services, stop_services
from catalog_stream.dead_letters import read
from tests.conftest import API_KEYS, WRITE_KEY, free_port
from tests.feeds import supplier_feed
from tests.support import wait_until

pytestmark = pytest.mark.e2e
AUTH = {"Authorization": f"Bearer {WRITE_KEY}"}
WRITE_SECONDS_BETWEEN_FAULTS = 6.0
WRITE_PAUSE_S = 0.05  # the writer's pace: steady, not a flood


@dataclass
class Chaos:
    config: StackConfig
    endpoints: Endpoints
    api_url: str
    search_url: str
    statuses: Counter[int] = field(default_factory=Counter)
    created: list[str] = field(default_factory=list)
    stop_writing: threading.Event = field(default_factory=threading.Event)

    def request(self, client: httpx.Client, method: str, url: str, **kwargs: Any) -> httpx.Response:
        """Send until the API gives an answer that is not 'come back later' (the client's side of the contract)."""
        deadline = time.monotonic() + 120
        while True:
            try:
                response = client.request(method, url, **kwargs)
            except httpx.TransportError:
                response = None
            if response is not None:
                self.statuses[response.status_code] += 1
                if response.status_code != 503:
                    return response
            if time.monotonic() > deadline:
                raise AssertionError(f"{method} {url} kept failing for 120s")
            time.sleep(float(response.headers.get("Retry-After", "0.5")) if response is not None else 0.5)

    def write(self) -> None:
        """Create a product, then patch it twice, until told to stop; every request is safe to send again."""
        with httpx.Client(base_url=self.api_url, headers=AUTH, timeout=10) as client:
            n = 0
            while not self.stop_writing.is_set():
                n += 1
                token = f"c{uuid.uuid4().hex[:12]}"
                body = {"sku": f"CH-{token}", "name": f"Chaos linen tee {token}", "price": "9.90", "currency": "EUR"}
                created = self.request(client, "POST", "/products", json=body, headers={"Idempotency-Key": token})
                assert created.status_code in (200, 201), created.text
                product_id = created.json()["id"]
                self.created.append(product_id)
                for price in ("10.90", "11.90"):
                    current = self.request(client, "GET", f"/products/{product_id}")
                    patched = self.request(
                        client,
                        "PATCH",
                        f"/products/{product_id}",
                        json={"price": price},
                        headers={"If-Match": current.headers["ETag"]},
                    )
                    # 412: an earlier try of this very patch went through before its answer was lost.
                    assert patched.status_code in (200, 412), patched.text
                self.stop_writing.wait(WRITE_PAUSE_S)

    def probe(self) -> float:
        """Seconds until a product created now is searchable and enriched."""
        started = time.monotonic()
        token = f"p{uuid.uuid4().hex[:12]}"
        with httpx.Client(base_url=self.api_url, headers=AUTH, timeout=10) as client:
            body = {"sku": f"PR-{token}", "name": f"Probe {token}", "price": "1.00", "currency": "EUR"}
            self.request(client, "POST", "/products", json=body, headers={"Idempotency-Key": token})
        with httpx.Client(base_url=self.search_url, timeout=10) as search:

            def enriched() -> bool:
                try:
                    hits = search.get("/search", params={"q": token}).json()["hits"]
                except (httpx.TransportError, ValueError, KeyError):
                    return False
                return bool(hits) and hits[0]["enrichment_status"] == "complete"

            wait_until(enriched, timeout=240, interval=0.2)
        return time.monotonic() - started

    def kill(self, name: str) -> None:
        pid = wait_until(service_process(self.config, name).child_pid, timeout=60)
        os.kill(pid, 9)


ARTIFACTS = Path(__file__).resolve().parents[2] / ".local" / "chaos"


@pytest.fixture
def chaos() -> Iterator[Chaos]:
    if os.environ.get("DATABASE_URL") or os.environ.get("KAFKA_BOOTSTRAP_SERVERS"):
        pytest.skip("restarts the database and the broker: needs the local ones the test starts itself")
    # The last run's stack (logs included) stays under .local/chaos for a look afterwards.
    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    config = StackConfig(root=ARTIFACTS, pg_port=free_port(), broker_port=free_port())
    api, search = free_port(), free_port()
    services = platform_services(api, search, [free_port() for _ in HEALTH_SERVICES])
    env = {"API_KEYS": API_KEYS, "API_PORT": str(api), "SEARCH_PORT": str(search), "IMPORT_STALE_AFTER_S": "10"}
    try:
        endpoints = start_infrastructure(config)
        start_services(config, endpoints, services, env)
        yield Chaos(config, endpoints, f"http://127.0.0.1:{api}", f"http://127.0.0.1:{search}")
    finally:
        stop_services(config, [s.name for s in services])
        stop_infrastructure(config)


def stored_versions(database_url: str, ids: list[str]) -> dict[str, int]:
    with psycopg.connect(libpq_conninfo(database_url)) as conn:
        rows = conn.execute("SELECT id::text, version FROM products WHERE id = ANY(%s::uuid[])", [ids]).fetchall()
    return {product_id: int(version) for product_id, version in rows}


def read_model_lagging(database_url: str, versions: dict[str, int]) -> list[str]:
    """Products whose search document is missing, behind the stored version, or not enriched at that version."""
    with psycopg.connect(libpq_conninfo(database_url)) as conn:
        rows = conn.execute(
            "SELECT product_id::text, core_version, enrichment_version FROM search.documents "
            "WHERE product_id = ANY(%s::uuid[])",
            [list(versions)],
        ).fetchall()
    documents = {product_id: (core, enrichment) for product_id, core, enrichment in rows}
    return [p for p, v in versions.items() if min(documents.get(p, (0, 0))) < v]


def import_state(client: httpx.Client, job_id: str) -> str:
    return str(client.get(f"/imports/{job_id}").json()["state"])


def test_the_pipeline_heals_itself_after_kills_and_restarts(chaos: Chaos) -> None:
    started = time.monotonic()
    recovery: dict[str, float] = {"warm-up": chaos.probe()}
    writer = threading.Thread(target=chaos.write, daemon=True)
    writer.start()

    def after(fault: str) -> None:
        time.sleep(WRITE_SECONDS_BETWEEN_FAULTS)  # steady writes between faults; not a wait for an effect
        recovery[fault] = chaos.probe()

    chaos.kill("outbox-relay")
    after("kill -9 relay")
    chaos.kill("indexer")
    after("kill -9 indexer")
    chaos.kill("search-index")
    after("kill -9 search index writer")
    chaos.kill("enricher")
    after("kill -9 enricher")

    feed = supplier_feed(f"CHX{uuid.uuid4().hex[:6]}", f"Chaos{uuid.uuid4().hex[:6]}", rows=3000)
    with httpx.Client(base_url=chaos.api_url, headers=AUTH, timeout=30) as client:
        upload = client.post(
            "/imports", files={"file": ("feed.csv", feed.csv(fixed=True), "text/csv")}, data={"format": "csv"}
        )
        assert upload.status_code == 202, upload.text
        job_id = upload.json()["id"]
        wait_until(lambda: import_state(client, job_id) == "PROCESSING", timeout=60, interval=0.05)
    chaos.kill("importer")
    after("kill -9 importer mid-import")

    chaos.config.broker.stop()
    chaos.config.broker.start()
    after("broker restart")

    chaos.config.postgres.stop(mode="immediate")
    chaos.config.postgres.start()
    after("PostgreSQL restart (-m immediate)")

    chaos.stop_writing.set()
    writer.join(timeout=180)
    assert not writer.is_alive()

    with httpx.Client(base_url=chaos.api_url, headers=AUTH, timeout=30) as client:
        # The feed keeps its reference errors (variants of products it does not create): they are row errors.
        finished = {"COMPLETED", "COMPLETED_WITH_ERRORS"}
        wait_until(lambda: import_state(client, job_id) in finished, timeout=300, interval=1)
    versions = stored_versions(chaos.endpoints.database_url, chaos.created)
    assert len(versions) == len(chaos.created)  # every acknowledged create is stored
    healed_at = time.monotonic()
    wait_until(lambda: not read_model_lagging(chaos.endpoints.database_url, versions), timeout=300, interval=1)
    # ...and the search index has every change of it (its writer was killed too, and the database restarted).
    wait_until(lambda: httpx.get(f"{chaos.search_url}/readyz").json().get("lag") == 0, timeout=300, interval=1)
    settings = CatalogSettings(kafka_bootstrap_servers=chaos.endpoints.kafka_bootstrap_servers)
    dead_letters = {p: len(list(read(settings, p, timeout=5))) for p in PROCESSORS}

    print(
        f"\nchaos: {len(chaos.created)} products created and patched twice ({sum(chaos.statuses.values())} requests,"
        f" statuses {dict(sorted(chaos.statuses.items()))}), {len(recovery) - 1} faults in"
        f" {healed_at - started:.0f}s; all caught up {time.monotonic() - healed_at:.1f}s after the writes stopped"
    )
    for fault, seconds in recovery.items():
        print(f"  {fault:36} a new product searchable and enriched after {seconds:.1f}s")
    print(f"  dead letters: {dead_letters}")
    assert chaos.statuses[500] == 0
    assert dead_letters == dict.fromkeys(PROCESSORS, 0)
