"""Readiness tells the truth: a processor that cannot reach its database says so, waits the outage out (nothing is
dead-lettered), and is ready again — with the product indexed — once the database is back."""

import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy.engine import make_url

from catalog_kit.settings import CatalogSettings
from catalog_stack.infra import Endpoints
from catalog_stream.dead_letters import read
from tests.conftest import WRITE_KEY, System, free_port
from tests.support import wait_until

pytestmark = pytest.mark.e2e


def readiness(url: str) -> tuple[int, dict[str, Any]]:
    try:
        response = httpx.get(url, timeout=5)
    except httpx.TransportError:
        return 0, {}
    return response.status_code, response.json()


def test_an_unreachable_database_makes_the_indexer_unready_until_it_is_back(
    running_system: System, endpoints: Endpoints
) -> None:
    ready_url = running_system.service("indexer").ready_url
    assert ready_url is not None
    nowhere = make_url(endpoints.database_url).set(port=free_port()).render_as_string(hide_password=False)
    running_system.restart("indexer", DATABASE_URL=nowhere)
    token = f"h{uuid.uuid4().hex[:12]}"
    try:
        body = {"sku": f"H-{token}", "name": f"Health lamp {token}", "price": "3.00", "currency": "EUR"}
        created = httpx.post(
            f"{running_system.api_url}/products", json=body, headers={"Authorization": f"Bearer {WRITE_KEY}"}
        )
        assert created.status_code == 201

        def outage_reported() -> list[str]:
            status, report = readiness(ready_url)
            problems = report.get("problems", []) if status == 503 else []
            return [p for p in problems if p.startswith("infrastructure unavailable")]

        wait_until(outage_reported, timeout=120, interval=0.5)
    finally:
        running_system.restart("indexer")
    wait_until(lambda: readiness(ready_url)[0] == 200, timeout=120, interval=0.5)

    def found() -> bool:
        hits = httpx.get(f"{running_system.search_url}/search", params={"q": token}).json()["hits"]
        return bool(hits) and hits[0]["sku"] == f"H-{token}"

    wait_until(found, timeout=120, interval=0.2)
    # Caught up means lag 0, although every relay batch leaves a transaction marker that no record carries.
    wait_until(lambda: readiness(ready_url)[1].get("lag") == 0, timeout=120, interval=0.5)
    settings = CatalogSettings(kafka_bootstrap_servers=endpoints.kafka_bootstrap_servers)
    assert not [d for d in read(settings, "indexer", timeout=5) if d.key == created.json()["id"].encode()]
