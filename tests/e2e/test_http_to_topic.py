"""End to end through real processes: HTTP write → outbox → relay → topic, read by an aiokafka consumer and kcat."""

import shutil
import subprocess

import httpx
import pytest

from catalog_schemas.topics import PRODUCT
from catalog_stack.infra import Endpoints
from tests.conftest import WRITE_KEY, System
from tests.support import consume, wait_until

AUTH = {"Authorization": f"Bearer {WRITE_KEY}"}


def test_product_changes_reach_the_topic_in_order(running_system: System, endpoints: Endpoints, unique: str) -> None:
    with httpx.Client(base_url=running_system.api_url, headers=AUTH, timeout=10) as http:
        created = http.post(
            "/products",
            json={
                "sku": f"E2E-{unique}",
                "name": "Trail shoe",
                "brand": "Acme",
                "price": "89.00",
                "currency": "EUR",
                "variants": [{"sku": f"E2E-{unique}-42", "options": {"size": "42"}, "stock": 3}],
            },
            headers={"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"},
        )
        assert created.status_code == 201, created.text
        product = created.json()
        updated = http.patch(f"/products/{product['id']}", json={"price": "79.00"}, headers={"If-Match": '"1"'})
        assert updated.status_code == 200
        assert http.delete(f"/products/{product['id']}").status_code == 204

    core_types = ("product.created", "product.updated", "product.deleted")  # the enricher adds product.enriched
    records = consume(
        endpoints.kafka_bootstrap_servers, PRODUCT.name, [product["id"]], expected=3, timeout=30, types=core_types
    )
    assert [r.event.type for r in records] == ["product.created", "product.updated", "product.deleted"]
    assert len({r.partition for r in records}) == 1  # the key pins a product to one partition
    first = records[0]
    assert first.key == product["id"]
    assert first.headers["ce_specversion"] == "1.0"
    assert first.headers["ce_source"] == "/catalog/product-api"
    assert first.headers["ce_subject"] == product["id"]
    assert first.headers["content-type"] == "application/json"
    # ce_dataschema is the schema's URL at the running API, which serves it under that $id.
    assert first.headers["ce_dataschema"] == f"{running_system.api_url}/schemas/product.created.v1.json"
    assert httpx.get(first.headers["ce_dataschema"]).json()["$id"] == first.headers["ce_dataschema"]
    assert first.headers["traceparent"] == "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    assert first.event.data == product
    assert records[1].event.data["price"] == "79.00"
    assert records[1].event.data["version"] == 2
    assert records[2].event.data == {**records[2].event.data, "id": product["id"], "version": 3}


def test_services_report_health(running_system: System) -> None:
    assert httpx.get(f"{running_system.api_url}/healthz").json() == {"status": "ok"}
    assert httpx.get(f"{running_system.api_url}/readyz").json() == {"status": "ready"}
    assert httpx.get(f"{running_system.api_url}/docs").status_code == 200


def test_kcat_reads_the_events_the_platform_produced(
    running_system: System, endpoints: Endpoints, broker_kind: str, unique: str
) -> None:
    if broker_kind == "tansu":
        pytest.skip("kcat (librdkafka 2.0) cannot talk to Tansu")
    kcat = shutil.which("kcat")
    if kcat is None:
        pytest.skip("kcat is not installed (the stack installs it with apt-get where it may)")
    with httpx.Client(base_url=running_system.api_url, headers=AUTH, timeout=10) as http:
        created = http.post(
            "/products", json={"sku": f"KCAT-{unique}", "name": "Wool sock", "price": "9.00", "currency": "EUR"}
        )
    assert created.status_code == 201, created.text
    product_id = created.json()["id"]

    def read_back() -> str | None:
        command = [kcat, "-b", endpoints.kafka_bootstrap_servers, "-t", PRODUCT.name, "-C", "-e", "-q"]
        output = subprocess.run(
            [*command, "-f", "%k %h\\n"], capture_output=True, text=True, timeout=60, check=True
        ).stdout
        return next((line for line in output.splitlines() if line.startswith(product_id)), None)

    line = wait_until(read_back, timeout=60, interval=0.5)  # the relay publishes shortly after the write
    assert "ce_type=product.created" in line
