"""The pure parts of the metrics: rates over a period, group lag from offsets, route templates as labels, lag series
that follow the assignment, and the status figures read back from an exposition."""

from fastapi import APIRouter, FastAPI
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY, CollectorRegistry

from catalog_core.domain.imports import ErrorCategory, RowStatus
from catalog_http.metrics import RequestMetrics
from catalog_http.metrics import router as metrics_router
from catalog_importer.domain.feed import FeedRow, Position
from catalog_importer.domain.products import RowOutcome
from catalog_importer.domain.tally import row_counts
from catalog_kit.metrics import BatchHistogram, RateMeter, exposition
from catalog_relay.adapters.metrics import OutboxMetrics
from catalog_relay.adapters.outbox_table import OutboxRow
from catalog_relay.domain.group_lag import group_lag, lanes_of
from catalog_schemas import Lane
from catalog_schemas.topics import IMPORTS, PRODUCT, PRODUCT_BULK
from catalog_stack.figures import HttpFigures, ProcessorFigures, RelayFigures, parse
from catalog_stream.metrics import ConsumerMetrics


def value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_a_rate_covers_only_the_period_since_the_last_sample() -> None:
    meter = RateMeter(_last_at=100.0)
    meter.add(50)
    assert meter.sample(now=105.0) == 10.0
    assert meter.sample(now=110.0) == 0.0  # nothing since: a stall shows at once, not averaged away
    meter.add(30)
    assert meter.sample(now=113.0) == 10.0


def test_a_batch_histogram_counts_each_value_in_the_first_bucket_that_holds_it() -> None:
    registry = CollectorRegistry()
    histogram = BatchHistogram("unit_seconds", "For the test.", ["lane"], buckets=(0.1, 1.0), registry=registry)
    series = histogram.labels("bulk")
    histogram.observe_many(series, [0.05, 0.1, 0.5, 1.0, 7.0])  # a bound belongs to its own bucket (le: <=)
    histogram.observe_many(series, [])

    def sample(suffix: str, **labels: str) -> float | None:
        return registry.get_sample_value(f"unit_seconds{suffix}", {"lane": "bulk", **labels})

    assert [sample("_bucket", le=le) for le in ("0.1", "1.0", "+Inf")] == [2, 4, 5]
    assert sample("_count") == 5
    assert sample("_sum") == 8.65
    assert b'unit_seconds_bucket{lane="bulk",le="+Inf"} 5.0' in exposition(registry)


def test_group_lag_counts_from_the_commit_or_from_the_beginning_without_one() -> None:
    committed = {("t", 0): 7, ("t", 1): None, ("t", 2): 12}
    ends = {("t", 0): 10, ("t", 1): 5, ("t", 2): 12, ("t", 3): 4}
    beginnings = {("t", 1): 2, ("t", 3): 0}
    assert group_lag(committed, ends, beginnings) == {("t", 0): 3, ("t", 1): 3, ("t", 2): 0, ("t", 3): 4}


def test_a_group_is_read_on_both_lanes_of_a_topic_it_committed_on_either() -> None:
    assert lanes_of([PRODUCT.name]) == {PRODUCT.name, PRODUCT_BULK.name}
    assert lanes_of([PRODUCT_BULK.name]) == {PRODUCT.name, PRODUCT_BULK.name}
    assert lanes_of([IMPORTS.name]) == {IMPORTS.name}


def test_requests_are_labelled_by_route_template_never_by_raw_path() -> None:
    things = APIRouter()

    @things.get("/things/{thing_id}")
    def thing(thing_id: str) -> dict[str, str]:
        return {"id": thing_id}

    app = FastAPI()
    app.include_router(things)
    app.include_router(metrics_router)
    app.add_middleware(RequestMetrics, service="unit-test")
    client = TestClient(app)
    template = {"service": "unit-test", "method": "GET", "route": "/things/{thing_id}", "status": "200"}
    before = value("catalog_http_requests_total", **template)

    assert client.get("/things/a1").status_code == 200
    assert client.get("/things/b2").status_code == 200
    assert client.get("/no/such/path").status_code == 404
    assert client.request("BREW", "/things/a1").status_code == 405

    assert value("catalog_http_requests_total", **template) == before + 2
    unmatched = {"service": "unit-test", "method": "GET", "route": "unmatched", "status": "404"}
    assert value("catalog_http_requests_total", **unmatched) >= 1
    brewed = {"service": "unit-test", "method": "OTHER", "route": "/things/{thing_id}", "status": "405"}
    assert value("catalog_http_requests_total", **brewed) >= 1
    scraped = client.get("/metrics")
    assert scraped.headers["content-type"].startswith("text/plain")
    assert "/things/a1" not in scraped.text
    assert 'route="/things/{thing_id}"' in scraped.text


def test_lag_series_follow_the_assignment() -> None:
    metrics = ConsumerMetrics("unit-lag", ready=lambda: True)
    metrics.lag({(PRODUCT.name, 0): 5, (PRODUCT_BULK.name, 1): 7})
    lag = "catalog_consumer_lag"
    assert value(lag, processor="unit-lag", topic=PRODUCT.name, partition="0", lane="interactive") == 5
    assert value(lag, processor="unit-lag", topic=PRODUCT_BULK.name, partition="1", lane="bulk") == 7

    metrics.lag({(PRODUCT.name, 0): 0})  # partition 1 of the bulk lane went to another member
    assert (
        REGISTRY.get_sample_value(
            lag, {"processor": "unit-lag", "topic": PRODUCT_BULK.name, "partition": "1", "lane": "bulk"}
        )
        is None
    )
    assert value("catalog_consumer_ready", processor="unit-lag") == 1.0


def test_a_batch_is_counted_once_with_its_size_and_outcome() -> None:
    metrics = ConsumerMetrics("unit-batch", ready=lambda: False)
    metrics.handled(PRODUCT_BULK.name, 40, 0.02, isolated=False)
    metrics.handled(PRODUCT_BULK.name, 3, 0.5, isolated=True)
    assert value("catalog_consumer_records_total", processor="unit-batch", topic=PRODUCT_BULK.name, lane="bulk") == 43
    assert value("catalog_consumer_batch_size_count", processor="unit-batch", lane="bulk") == 2
    assert value("catalog_consumer_batch_size_sum", processor="unit-batch", lane="bulk") == 43
    assert value("catalog_consumer_batch_seconds_count", processor="unit-batch", lane="bulk", outcome="isolated") == 1
    assert value("catalog_consumer_ready", processor="unit-batch") == 0.0


def test_published_rows_are_counted_per_lane_with_their_delay_since_written() -> None:
    metrics = OutboxMetrics()
    before = {lane: value("catalog_outbox_published_total", lane=lane.value) for lane in Lane}
    slow_before = value("catalog_outbox_publish_delay_seconds_bucket", lane="bulk", le="60.0")
    rows = [
        OutboxRow(1, PRODUCT.name, "p1", "{}", {}, age_s=0.001),
        OutboxRow(2, PRODUCT_BULK.name, "p2", "{}", {}, age_s=100.0),
        OutboxRow(3, PRODUCT_BULK.name, "p3", "{}", {}, age_s=0.5),
    ]
    metrics.published(rows, since_fetch_s=0.004)
    assert value("catalog_outbox_published_total", lane="interactive") == before[Lane.INTERACTIVE] + 1
    assert value("catalog_outbox_published_total", lane="bulk") == before[Lane.BULK] + 2
    # One bulk row waited 100 s: above the 60 s bucket; the other below it.
    assert value("catalog_outbox_publish_delay_seconds_bucket", lane="bulk", le="60.0") == slow_before + 1


def test_chunk_rows_are_counted_by_status_and_failed_ones_by_category() -> None:
    def outcome(number: int, status: RowStatus, category: ErrorCategory | None = None) -> RowOutcome:
        return RowOutcome(FeedRow(number, number + 1, Position(), {}), status, category)

    by_status, failed = row_counts(
        [
            outcome(1, RowStatus.CREATED),
            outcome(2, RowStatus.CREATED),
            outcome(3, RowStatus.FAILED, ErrorCategory.VALIDATION),
            outcome(4, RowStatus.SKIPPED),
        ]
    )
    assert by_status == {"created": 2, "failed": 1, "skipped": 1}
    assert failed == {"VALIDATION": 1}


EXPOSITION = """\
# TYPE catalog_consumer_lag gauge
catalog_consumer_lag{processor="enricher",topic="catalog.product.v1",partition="0",lane="interactive"} 3
catalog_consumer_lag{processor="enricher",topic="catalog.product.v1",partition="4",lane="interactive"} 2
catalog_consumer_lag{processor="enricher",topic="catalog.product.bulk.v1",partition="1",lane="bulk"} 40
catalog_consumer_lag{processor="indexer",topic="catalog.product.v1",partition="0",lane="interactive"} 9
# TYPE catalog_consumer_ready gauge
catalog_consumer_ready{processor="enricher"} 1
# TYPE catalog_consumer_records_per_second gauge
catalog_consumer_records_per_second{processor="enricher"} 12.5
# TYPE catalog_outbox_backlog gauge
catalog_outbox_backlog{lane="interactive"} 1
catalog_outbox_backlog{lane="bulk"} 200
# TYPE catalog_outbox_oldest_age_seconds gauge
catalog_outbox_oldest_age_seconds{lane="interactive"} 0.2
catalog_outbox_oldest_age_seconds{lane="bulk"} 4.5
# TYPE catalog_outbox_published counter
catalog_outbox_published_total{lane="interactive"} 10
catalog_outbox_published_total{lane="bulk"} 5
# TYPE catalog_http_requests counter
catalog_http_requests_total{service="product-api",method="GET",route="/products",status="200"} 7
catalog_http_requests_total{service="product-api",method="POST",route="/products",status="503"} 2
catalog_http_requests_total{service="search-api",method="GET",route="/search",status="200"} 5
# TYPE catalog_consumer_group_lag gauge
catalog_consumer_group_lag{group="catalog-media",topic="catalog.product.v1",partition="2",lane="interactive"} 7
catalog_consumer_group_lag{group="catalog-media",topic="catalog.product.bulk.v1",partition="2",lane="bulk"} 1
"""


def test_status_figures_are_the_sums_of_what_metrics_serves() -> None:
    samples = parse(EXPOSITION)
    enricher = ProcessorFigures.of(samples, "enricher")
    assert enricher == ProcessorFigures(ready=True, lag={"interactive": 5, "bulk": 40}, records_per_second=12.5)
    assert enricher.line() == "ready, lag 5 + bulk 40, 12.5 records/s"
    relay = RelayFigures.of(samples)
    assert relay.line() == "backlog 1 + bulk 200, oldest 4.5s, published 15"
    assert relay.broker_lag("media") == "group lag 7 + bulk 1 (broker)"
    assert relay.broker_lag("indexer") is None
    assert HttpFigures.of(samples, "product-api").line() == "9 requests, 2 answered 5xx"


def test_the_exposition_has_no_created_series() -> None:
    assert b"_created" not in exposition()
