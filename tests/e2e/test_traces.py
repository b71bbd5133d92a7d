"""Traces end to end: the product API, the relay, the indexer and the importer run with
`OTEL_TRACES_EXPORTER=otlp` against a small OTLP/HTTP receiver in this test, and one trace holds a write's spans
from the API, the relay and the indexer, each below the one before it.

For this module those services are restarted with the OTEL_* variables, and restarted without them after.
"""

import gzip
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from catalog_schemas.topics import PRODUCT_BULK
from tests.conftest import WRITE_KEY, System
from tests.support import wait_until

pytestmark = pytest.mark.e2e

TRACED = ("product-api", "outbox-relay", "indexer", "importer")


@dataclass(frozen=True)
class ReceivedSpan:
    service: str
    trace_id: str
    span_id: str
    parent_span_id: str
    name: str
    attributes: dict[str, Any]
    linked_traces: frozenset[str]


class Receiver:
    """An OTLP/HTTP trace receiver (protobuf) on 127.0.0.1 that keeps every span it is sent."""

    def __init__(self) -> None:
        self.spans: list[ReceivedSpan] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                if self.path != "/v1/traces":
                    self.send_error(404)
                    return
                receiver.take(ExportTraceServiceRequest.FromString(body))
                answer = ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1/traces"

    def take(self, request: ExportTraceServiceRequest) -> None:
        received = []
        for resource_spans in request.resource_spans:
            resource = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    attributes = {a.key: _value(a.value) for a in span.attributes}
                    received.append(
                        ReceivedSpan(
                            resource.get("service.name", ""),
                            span.trace_id.hex(),
                            span.span_id.hex(),
                            span.parent_span_id.hex(),
                            span.name,
                            attributes,
                            frozenset(link.trace_id.hex() for link in span.links),
                        )
                    )
        with self.lock:
            self.spans.extend(received)

    def trace(self, trace_id: str) -> list[ReceivedSpan]:
        with self.lock:
            return [s for s in self.spans if s.trace_id == trace_id]

    def linked_to(self, service: str, trace_id: str) -> list[ReceivedSpan]:
        with self.lock:
            return [s for s in self.spans if s.service == service and trace_id in s.linked_traces]

    def of_product(self, service: str, product_id: str) -> ReceivedSpan | None:
        with self.lock:
            return next(
                (
                    s
                    for s in self.spans
                    if s.service == service
                    and s.attributes.get("catalog.product_id") == product_id
                    and s.attributes.get("catalog.event_type") == "product.created"
                ),
                None,
            )


def _value(value: Any) -> Any:
    kind = value.WhichOneof("value")
    return getattr(value, kind) if kind else None


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    receiver = Receiver()
    receiver.thread.start()
    try:
        yield receiver
    finally:
        receiver.server.shutdown()
        receiver.server.server_close()


@pytest.fixture(scope="module")
def traced(running_system: System, receiver: Receiver) -> Iterator[System]:
    """The API, relay and indexer exporting their spans to `receiver`; restored to no traces afterwards."""
    env = {
        "OTEL_TRACES_EXPORTER": "otlp",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": receiver.endpoint,
        "OTEL_BSP_SCHEDULE_DELAY": "100",
    }
    try:
        for name in TRACED:
            running_system.restart(name, **env)
        wait_until(lambda: _ready(running_system), timeout=60, interval=0.2)
        running_system.wait_until_consuming()
        yield running_system
    finally:
        for name in TRACED:
            running_system.restart(name)
        wait_until(lambda: _ready(running_system), timeout=60, interval=0.2)


def _ready(system: System) -> bool:
    try:
        return httpx.get(f"{system.api_url}/readyz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _create(system: System, token: str, headers: dict[str, str]) -> str:
    body = {"sku": f"TR-{token}", "name": f"Traced {token}", "price": "5.00", "currency": "EUR"}
    response = httpx.post(
        f"{system.api_url}/products",
        json=body,
        headers={"Authorization": f"Bearer {WRITE_KEY}", **headers},
        timeout=10,
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def _chain(receiver: Receiver, product_id: str) -> tuple[ReceivedSpan, ReceivedSpan, list[ReceivedSpan]]:
    """The indexer's span of the product's creation, the relay span above it, and the trace's API spans."""
    indexed = wait_until(lambda: receiver.of_product("indexer", product_id), timeout=60, interval=0.1)

    def complete() -> tuple[ReceivedSpan, ReceivedSpan, list[ReceivedSpan]] | None:
        spans = receiver.trace(indexed.trace_id)
        relay = [s for s in spans if s.service == "outbox-relay" and s.span_id == indexed.parent_span_id]
        api = [s for s in spans if s.service == "product-api"]
        return (indexed, relay[0], api) if relay and api else None

    return wait_until(complete, timeout=30, interval=0.1)


def test_one_trace_spans_api_relay_and_indexer(traced: System, receiver: Receiver) -> None:
    product_id = _create(traced, uuid.uuid4().hex[:10], {})
    indexed, relay, api = _chain(receiver, product_id)

    # Parent order: the indexer's span is the relay's child, the relay's span a child of the API's request span,
    # which started the trace (the request carried no traceparent).
    assert relay.attributes["catalog.product_id"] == product_id
    assert relay.attributes["catalog.event_type"] == "product.created"
    assert indexed.attributes["catalog.event_type"] == "product.created"
    api_ids = {s.span_id for s in api}
    assert relay.parent_span_id in api_ids
    [root] = [s for s in api if s.parent_span_id == ""]
    assert root.name == "POST /products"
    assert {s.service for s in receiver.trace(indexed.trace_id)} >= {"product-api", "outbox-relay", "indexer"}


def test_a_callers_traceparent_is_continued(traced: System, receiver: Receiver) -> None:
    trace_id, caller_span = uuid.uuid4().hex, uuid.uuid4().hex[:16]
    product_id = _create(traced, uuid.uuid4().hex[:10], {"traceparent": f"00-{trace_id}-{caller_span}-01"})
    indexed, relay, api = _chain(receiver, product_id)

    assert indexed.trace_id == trace_id
    [server] = [s for s in api if s.parent_span_id == caller_span]
    assert relay.parent_span_id in {s.span_id for s in api}
    assert server.name == "POST /products"


def submit_traced_import(system: System, token: str, rows: int, trace_id: str) -> str:
    feed = "sku,name,price,currency\n" + "".join(f"TI-{token}-{n},Traced feed {n},4.00,EUR\n" for n in range(rows))
    response = httpx.post(
        f"{system.api_url}/imports",
        files={"file": ("feed.csv", feed.encode(), "text/csv")},
        data={"format": "csv"},
        headers={"Authorization": f"Bearer {WRITE_KEY}", "traceparent": f"00-{trace_id}-{'1' * 16}-01"},
        timeout=30,
    )
    assert response.status_code == 202, response.text
    return str(response.json()["id"])


def finished_import(system: System, job_id: str) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        job: dict[str, Any] = httpx.get(
            f"{system.api_url}/imports/{job_id}", headers={"Authorization": f"Bearer {WRITE_KEY}"}, timeout=10
        ).json()
        return job if job["state"] in {"COMPLETED", "COMPLETED_WITH_ERRORS", "FAILED", "CANCELLED"} else None

    return wait_until(done, timeout=120, interval=0.25)


def test_an_imports_bulk_batches_link_to_the_import_requests_trace(traced: System, receiver: Receiver) -> None:
    """The bulk lane's relay and indexer spans are per batch, linked to the rows' contexts: the import request's."""
    trace_id = uuid.uuid4().hex
    job_id = submit_traced_import(traced, uuid.uuid4().hex[:10], 30, trace_id)
    assert finished_import(traced, job_id)["state"] == "COMPLETED"

    relay = wait_until(lambda: receiver.linked_to("outbox-relay", trace_id), timeout=60, interval=0.1)
    indexer = wait_until(lambda: receiver.linked_to("indexer", trace_id), timeout=60, interval=0.1)
    assert all(s.name == "outbox-relay publish batch" for s in relay)
    assert all(s.name == f"indexer process {PRODUCT_BULK.name} batch" for s in indexer)
    spans = receiver.trace(trace_id)
    [request] = [s for s in spans if s.service == "product-api" and s.name == "POST /imports"]
    # The importer continues the request's trace from the job row: its run below the request, its chunks below it.
    run = wait_until(lambda: [s for s in receiver.trace(trace_id) if s.name == "import job run"], timeout=30)
    assert run[0].service == "importer"
    assert run[0].attributes["catalog.job_id"] == job_id
    assert run[0].parent_span_id == request.span_id
    chunks = [s for s in receiver.trace(trace_id) if s.name == "import chunk"]
    assert chunks
    assert {c.parent_span_id for c in chunks} == {run[0].span_id}
