"""Enrichment that tells the truth, through real processes: with the provider down a product is searchable as
`degraded`; once the provider is back the enricher computes it again by itself and the complete result, of the same
product version, replaces the degraded one in search."""

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.conftest import WRITE_KEY, System
from tests.provider_server import ProviderServer
from tests.support import wait_until

WRITER = {"Authorization": f"Bearer {WRITE_KEY}"}


@pytest.fixture
def provider() -> Iterator[ProviderServer]:
    server = ProviderServer(keywords=("fromprovider",))
    yield server
    server.close()


def hit_when(system: System, token: str, status: str) -> dict[str, Any] | None:
    """The product's search hit once its enrichment status is `status`."""
    hits = httpx.get(f"{system.search_url}/search", params={"q": token}).json()["hits"]
    return hits[0] if hits and hits[0]["enrichment_status"] == status else None


def test_a_degraded_product_becomes_complete_in_search_when_the_provider_is_back(
    running_system: System, provider: ProviderServer, unique: str
) -> None:
    provider.default = "500"  # the provider is down
    running_system.restart(
        "enricher",
        PROVIDER_URL=provider.url,
        OUTBOUND_ALLOW=provider.address,
        PROVIDER_MAX_ATTEMPTS="1",
        PROVIDER_FAILURE_THRESHOLD="1",
        PROVIDER_RESET_AFTER_S="1",
        PROVIDER_TIMEOUT_S="2",
        ENRICH_DEGRADED_EVERY_S="1",
    )
    try:
        body = {"sku": f"RC-{unique}", "name": f"Recovery tee {unique}", "price": "5.00", "currency": "EUR"}
        created = httpx.post(f"{running_system.api_url}/products", json=body, headers=WRITER)
        assert created.status_code == 201, created.text

        degraded = wait_until(lambda: hit_when(running_system, unique, "degraded"), timeout=120, interval=0.2)
        assert "fromprovider" not in degraded["keywords"]

        provider.default = "ok"  # back: nothing else changes, no product is written
        complete = wait_until(lambda: hit_when(running_system, unique, "complete"), timeout=120, interval=0.2)
        assert "fromprovider" in complete["keywords"]
        product = httpx.get(f"{running_system.api_url}/products/{created.json()['id']}").json()
        assert product["version"] == 1  # the same version, enriched again
    finally:
        running_system.restart("enricher")  # the built-in provider for the tests after this one
    running_system.wait_until_consuming()
