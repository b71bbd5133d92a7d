"""Trace context with traces off (the default): a traceparent a client sends still reaches every event its request
causes, also through an import job (kept on the job row) and the events processors derive from them."""

import uuid

import httpx
import pytest

from catalog_schemas.topics import PRODUCT_BULK
from catalog_stack.infra import Endpoints
from tests.conftest import WRITE_KEY, System
from tests.e2e.test_traces import finished_import, submit_traced_import
from tests.support import consume

pytestmark = pytest.mark.e2e


def test_an_imports_trace_reaches_the_events_of_its_rows(running_system: System, endpoints: Endpoints) -> None:
    """The import request's traceparent travels on the job into every row's event and the enrichments'."""
    trace_id = uuid.uuid4().hex
    token = uuid.uuid4().hex[:10]
    job_id = submit_traced_import(running_system, token, 5, trace_id)
    assert finished_import(running_system, job_id)["state"] == "COMPLETED"
    rows = httpx.get(
        f"{running_system.api_url}/imports/{job_id}/rows", headers={"Authorization": f"Bearer {WRITE_KEY}"}, timeout=10
    ).json()["items"]
    product_ids = {row["product_id"] for row in rows}
    assert len(product_ids) == 5
    records = consume(
        endpoints.kafka_bootstrap_servers, PRODUCT_BULK.name, product_ids, expected=10, timeout=60
    )  # product.created and product.enriched of each
    assert {r.event.type for r in records} == {"product.created", "product.enriched"}
    assert {r.headers["traceparent"].split("-")[1] for r in records} == {trace_id}
