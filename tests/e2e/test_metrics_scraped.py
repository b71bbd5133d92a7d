"""Every service serves Prometheus metrics that move with the work: scraped and parsed as Prometheus would, after a
product write; and the consumer-group lag the relay reads from the broker rises while a processor is stopped and
falls back to 0 once it runs again."""

import uuid
from collections.abc import Callable
from functools import partial

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from catalog_stack.cli import detail
from catalog_stack.figures import ProcessorFigures, RelayFigures
from catalog_stack.services import start_service
from tests.conftest import WRITE_KEY, System
from tests.images import ImageServer, Served, jpeg
from tests.support import wait_until

pytestmark = pytest.mark.e2e

PROCESSORS = ("indexer", "enricher", "importer", "media", "webhooks")
CONSUMER_FAMILIES = (
    "catalog_consumer_lag",
    "catalog_consumer_records",
    "catalog_consumer_records_per_second",
    "catalog_consumer_batch_size",
    "catalog_consumer_batch_seconds",
    "catalog_consumer_retries",
    "catalog_consumer_dead_letters",
    "catalog_consumer_ready",
)
OWN_FAMILIES = {
    "indexer": ("catalog_index_freshness_seconds",),
    "enricher": ("catalog_enrichment", "catalog_enrichment_breaker_state"),
    "importer": (
        "catalog_import_jobs",
        "catalog_import_rows",
        "catalog_import_failed_rows",
        "catalog_import_rows_per_second",
    ),
    "media": ("catalog_media_processed", "catalog_media_failures"),
    "webhooks": (
        "catalog_webhook_deliveries",
        "catalog_webhook_attempt_seconds",
        "catalog_webhook_pending",
        "catalog_webhook_failed",
    ),
    "outbox-relay": (
        "catalog_outbox_backlog",
        "catalog_outbox_oldest_age_seconds",
        "catalog_outbox_published",
        "catalog_outbox_publish_delay_seconds",
        "catalog_consumer_group_lag",
    ),
}
HTTP_FAMILIES = ("catalog_http_requests", "catalog_http_request_seconds")


def metrics_url(system: System, name: str) -> str:
    url = system.service(name).metrics_url
    assert url is not None
    return url


def scrape(url: str) -> dict[str, list[Sample]] | None:
    """Families by name, parsed from the text exposition; None when the endpoint does not answer."""
    try:
        response = httpx.get(url, timeout=5)
    except httpx.TransportError:
        return None
    assert response.status_code == 200, url
    assert response.headers["content-type"].startswith("text/plain")
    return {family.name: family.samples for family in text_string_to_metric_families(response.text)}


def value(families: dict[str, list[Sample]], family: str, sample: str | None = None, **labels: str) -> float:
    """The sum of a family's samples named `sample` (the family's name by default) whose labels include `labels`."""
    name = sample or family
    return sum(
        s.value
        for s in families.get(family, [])
        if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())
    )


def create_product(system: System, token: str) -> str:
    body = {"sku": f"M-{token}", "name": f"Metered lamp {token}", "price": "4.00", "currency": "EUR"}
    created = httpx.post(
        f"{system.api_url}/products", json=body, headers={"Authorization": f"Bearer {WRITE_KEY}"}, timeout=30
    )
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


def eventually(url: str, check: Callable[[dict[str, list[Sample]]], bool], timeout: float = 90) -> None:
    """Scrape `url` until `check` holds (the gauges are sampled every few seconds)."""
    wait_until(lambda: (families := scrape(url)) is not None and check(families), timeout=timeout, interval=0.5)


def test_every_service_serves_its_metrics_and_they_move_with_a_write(running_system: System) -> None:
    system = running_system
    urls = {name: metrics_url(system, name) for name in (*PROCESSORS, "outbox-relay", "product-api", "search-api")}
    # A service an earlier test restarted may still be starting: wait for each, with a generous deadline.
    before = {name: wait_until(partial(scrape, url), timeout=90, interval=0.5) for name, url in urls.items()}
    for name, families in before.items():
        assert families is not None, f"{name} serves no /metrics"
        expected = (*CONSUMER_FAMILIES, *OWN_FAMILIES.get(name, ())) if name in PROCESSORS else ()
        expected += OWN_FAMILIES.get(name, ()) if name == "outbox-relay" else ()
        expected += HTTP_FAMILIES if name.endswith("-api") else ()
        assert not [f for f in expected if f not in families], (
            f"{name} lacks {[f for f in expected if f not in families]}"
        )
        if name in PROCESSORS:
            assert value(families, "catalog_consumer_ready", processor=name) == 1.0, name

    token = f"m{uuid.uuid4().hex[:12]}"
    product_id = create_product(system, token)
    wait_until(
        lambda: httpx.get(f"{system.search_url}/search", params={"q": token}).json()["hits"], timeout=60, interval=0.2
    )
    assert httpx.get(f"{system.api_url}/products/{product_id}").status_code == 200

    api = scrape(urls["product-api"])
    assert api is not None
    posted = {"service": "product-api", "method": "POST", "route": "/products", "status": "201"}
    total = "catalog_http_requests_total"
    assert (
        value(api, "catalog_http_requests", total, **posted)
        >= value(before["product-api"] or {}, "catalog_http_requests", total, **posted) + 1
    )
    read = {"service": "product-api", "method": "GET", "route": "/products/{product_id}", "status": "200"}
    assert value(api, "catalog_http_requests", total, **read) >= 1
    assert value(api, "catalog_http_request_seconds", "catalog_http_request_seconds_count", route="/products") >= 1
    labels = {v for samples in api.values() for s in samples for v in s.labels.values()}
    assert product_id not in labels  # routes are templates: no id ever becomes a label
    search = scrape(urls["search-api"])
    assert search is not None
    assert value(search, "catalog_http_requests", total, service="search-api", route="/search", status="200") >= 1

    def grew(name: str, family: str, sample: str, **labels: str) -> Callable[[dict[str, list[Sample]]], bool]:
        old = value(before[name] or {}, family, sample, **labels)
        return lambda families: value(families, family, sample, **labels) > old

    count = "catalog_index_freshness_seconds_count"
    eventually(
        urls["indexer"], grew("indexer", "catalog_index_freshness_seconds", count, lane="interactive", kind="core")
    )
    eventually(urls["indexer"], grew("indexer", "catalog_consumer_records", "catalog_consumer_records_total"))
    eventually(
        urls["indexer"],
        grew("indexer", "catalog_consumer_batch_size", "catalog_consumer_batch_size_count", lane="interactive"),
    )
    eventually(urls["enricher"], grew("enricher", "catalog_enrichment", "catalog_enrichment_total", status="saved"))
    eventually(urls["outbox-relay"], grew("outbox-relay", "catalog_outbox_published", "catalog_outbox_published_total"))
    relay = scrape(urls["outbox-relay"])
    assert relay is not None
    assert value(relay, "catalog_outbox_publish_delay_seconds", "catalog_outbox_publish_delay_seconds_count") >= 1
    enricher = scrape(urls["enricher"])
    assert enricher is not None
    assert value(enricher, "catalog_enrichment_breaker_state", provider="local") == 0  # closed
    # The importer reads jobs by state from the database: every state is there, at 0 or more.
    eventually(urls["importer"], lambda families: len(families.get("catalog_import_jobs", [])) == 6)
    # Caught up: every processor's own lag and its group's lag at the broker come back to 0.
    for name in PROCESSORS:
        eventually(urls[name], caught_up(name), timeout=120)
        wait_until(partial(group_caught_up, system, name), timeout=120, interval=0.5)
        # `make status` says what /metrics says.
        assert detail(system.service(name), running=True, relay=None).startswith("ready, lag 0 + bulk 0, ")


def group_caught_up(system: System, processor: str) -> bool:
    return group_lag(system, processor) == 0


def caught_up(processor: str) -> Callable[[dict[str, list[Sample]]], bool]:
    def check(families: dict[str, list[Sample]]) -> bool:
        return ProcessorFigures.of(_samples(families), processor).lag == {"interactive": 0, "bulk": 0}

    return check


def _samples(families: dict[str, list[Sample]]) -> list[Sample]:
    return [s for samples in families.values() for s in samples]


def group_lag(system: System, processor: str) -> int | None:
    """The lag of a processor's consumer group at the broker, as the relay serves it (None: not reported)."""
    families = scrape(metrics_url(system, "outbox-relay"))
    if families is None:
        return None
    lag = RelayFigures.of(_samples(families)).group_lag.get(f"catalog-{processor}")
    return None if lag is None else sum(lag.values())


def test_group_lag_rises_while_a_processor_is_stopped_and_falls_when_it_runs_again(running_system: System) -> None:
    system = running_system
    media = system.process("media")
    # Every processor records where its group starts when it joins: its lag is known to the broker from then on.
    wait_until(lambda: group_lag(system, "media") == 0, timeout=120, interval=0.5)
    assert media.stop()
    try:
        assert scrape(metrics_url(system, "media")) is None  # the stopped process tells nothing: the relay must
        token = f"g{uuid.uuid4().hex[:12]}"
        for n in range(5):
            create_product(system, f"{token}{n}")
        # Five creates and the five enrichments they cause, all waiting for media.
        wait_until(lambda: (group_lag(system, "media") or 0) >= 5, timeout=90, interval=0.5)
        # `make status` shows a stopped processor's lag at the broker, as the relay serves it.
        relay = scrape(metrics_url(system, "outbox-relay"))
        assert relay is not None
        lag = RelayFigures.of(_samples(relay)).group_lag["catalog-media"]
        shown = detail(system.service("media"), running=False, relay=RelayFigures.of(_samples(relay)))
        assert shown == f"group lag {lag['interactive']} + bulk {lag['bulk']} (broker)"
        assert lag["interactive"] >= 5
    finally:
        start_service(system.config, system.service("media"), system.env)
    wait_until(lambda: group_lag(system, "media") == 0, timeout=180, interval=0.5)
    eventually(
        metrics_url(system, "media"),
        lambda families: value(families, "catalog_consumer_ready", processor="media") == 1.0,
        timeout=120,
    )


def test_an_import_moves_the_importer_metrics(running_system: System) -> None:
    system = running_system
    url = metrics_url(system, "importer")
    before = scrape(url)
    assert before is not None
    token = uuid.uuid4().hex[:10]
    feed = (
        "sku,name,price,currency\n"
        f"I1-{token},Import lamp one,5.00,EUR\n"
        f"I2-{token},Import lamp two,6.00,EUR\n"
        f"I3-{token},Import lamp three,not-a-price,EUR\n"
    ).encode()
    with httpx.Client(base_url=system.api_url, headers={"Authorization": f"Bearer {WRITE_KEY}"}, timeout=60) as http:
        response = http.post("/imports", files={"file": ("feed.csv", feed, "text/csv")}, data={"format": "csv"})
        assert response.status_code == 202, response.text
        job_id = response.json()["id"]
        wait_until(lambda: http.get(f"/imports/{job_id}").json()["state"] == "COMPLETED_WITH_ERRORS", timeout=120)

    def counted(families: dict[str, list[Sample]]) -> bool:
        def grown(family: str, sample: str, by: int, **labels: str) -> bool:
            return value(families, family, sample, **labels) >= value(before, family, sample, **labels) + by

        return (
            grown("catalog_import_rows", "catalog_import_rows_total", 2, status="created")
            and grown("catalog_import_rows", "catalog_import_rows_total", 1, status="failed")
            and grown("catalog_import_failed_rows", "catalog_import_failed_rows_total", 1, category="VALIDATION")
            and value(families, "catalog_import_jobs", state="COMPLETED_WITH_ERRORS") >= 1
        )

    eventually(url, counted)


def test_images_move_the_media_metrics(running_system: System, image_host: ImageServer) -> None:
    system = running_system
    url = metrics_url(system, "media")
    before = scrape(url)
    assert before is not None
    token = uuid.uuid4().hex[:12]
    images = [
        image_host.serve(f"/{token}/good.jpg", Served(jpeg(64, 48))),
        image_host.serve(f"/{token}/text.jpg", Served(b"no image here", content_type="image/jpeg")),
    ]
    body = {"sku": f"P-{token}", "name": f"Pictured {token}", "price": "2.00", "currency": "EUR", "images": images}
    created = httpx.post(
        f"{system.api_url}/products", json=body, headers={"Authorization": f"Bearer {WRITE_KEY}"}, timeout=30
    )
    assert created.status_code == 201, created.text

    def counted(families: dict[str, list[Sample]]) -> bool:
        def grown(family: str, sample: str, **labels: str) -> bool:
            return value(families, family, sample, **labels) >= value(before, family, sample, **labels) + 1

        return grown("catalog_media_processed", "catalog_media_processed_total", outcome="processed") and grown(
            "catalog_media_failures", "catalog_media_failures_total", reason="not_an_image"
        )

    eventually(url, counted)
    # Nothing is left in work once both images have their result.
    eventually(
        url,
        lambda families: (
            "catalog_media_images_in_progress" in families and value(families, "catalog_media_images_in_progress") == 0
        ),
    )
