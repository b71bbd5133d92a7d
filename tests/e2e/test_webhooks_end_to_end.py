"""Webhooks end to end through the running platform: an import finishes → `import.completed` / `import.failed` in
the outbox with the job's final state → relay → catalog-webhooks → a signed POST to a receiver on loopback."""

import gzip
import json
import os
from pathlib import Path
from typing import Any

import httpx
import pytest

from catalog_core.adapters.webhooks import WebhookRepository
from catalog_core.domain.webhooks import TEST_EVENT, DeliveryState, new_secret
from catalog_kit.db import make_engine, make_session_factory
from catalog_stack.processes import ManagedProcess
from catalog_stack.services import bin_path
from catalog_webhooks.domain.signing import verify
from tests.conftest import ADMIN_KEY, WRITE_KEY, System, free_port
from tests.support import metric, wait_until
from tests.webhook_receiver import Received, WebhookReceiver

pytestmark = pytest.mark.e2e

ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}
WRITER = {"Authorization": f"Bearer {WRITE_KEY}"}


def subscribe(system: System, receiver: WebhookReceiver, path: str, *types: str) -> dict[str, Any]:
    answer = httpx.post(
        f"{system.api_url}/admin/webhooks",
        json={"url": receiver.url(path), "event_types": list(types), "description": "e2e"},
        headers=ADMIN,
    )
    assert answer.status_code == 201, answer.text
    body: dict[str, Any] = answer.json()
    return body


def unsubscribe(system: System, subscription: dict[str, Any]) -> None:
    assert httpx.delete(f"{system.api_url}/admin/webhooks/{subscription['id']}", headers=ADMIN).status_code == 204


def import_feed(system: System, content: bytes, name: str = "feed.csv") -> str:
    answer = httpx.post(
        f"{system.api_url}/imports",
        files={"file": (name, content, "text/csv")},
        data={"format": "csv"},
        headers=WRITER,
        timeout=30,
    )
    assert answer.status_code == 202, answer.text
    job_id: str = answer.json()["id"]
    return job_id


def feed(unique: str, rows: int = 2) -> bytes:
    lines = ["sku,name,brand,price,currency"]
    lines += [f"WH-{unique}-{n},Hook tee {n},Hook {unique},9.90,EUR" for n in range(rows)]
    return ("\n".join(lines) + "\n").encode()


def received_for(receiver: WebhookReceiver, path: str, job_id: str, count: int = 1) -> list[Received]:
    """Wait for `count` deliveries about this job at `path` (others' events may arrive there too)."""

    def arrived() -> list[Received] | None:
        found = [r for r in receiver.at(path) if json.loads(r.body)["data"].get("job_id") == job_id]
        return found if len(found) >= count else None

    return wait_until(arrived, timeout=120, interval=0.2)


def delivery_of(system: System, subscription: dict[str, Any], webhook_id: str) -> dict[str, Any]:
    deliveries = httpx.get(f"{system.api_url}/admin/webhooks/{subscription['id']}/deliveries", headers=ADMIN).json()[
        "items"
    ]
    [delivery] = [d for d in deliveries if d["webhook_id"] == webhook_id]
    return delivery  # type: ignore[no-any-return]


def settled(system: System, subscription: dict[str, Any], webhook_id: str, attempts: int) -> dict[str, Any]:
    """The delivery once its `attempts` attempts are recorded (the receiver sees a POST before it is recorded)."""

    def recorded() -> dict[str, Any] | None:
        delivery = delivery_of(system, subscription, webhook_id)
        return delivery if len(delivery["attempts"]) >= attempts and delivery["state"] != "pending" else None

    return wait_until(recorded, timeout=60, interval=0.2)


def test_a_completed_import_is_delivered_signed_and_can_be_redelivered(
    running_system: System, webhook_host: WebhookReceiver, unique: str
) -> None:
    path = f"/hooks/completed-{unique}"
    subscription = subscribe(running_system, webhook_host, path, "import.completed", "import.failed")
    try:
        secret = subscription["secret"]
        assert secret.startswith("whsec_")
        job_id = import_feed(running_system, feed(unique))

        [first] = received_for(webhook_host, path, job_id)
        verify(secret, first.headers, first.body)  # raises unless signed with the subscription's secret
        with pytest.raises(Exception, match="signature"):
            verify(secret, first.headers, first.body.replace(b"COMPLETED", b"FAILED"))
        payload = json.loads(first.body)
        assert payload["type"] == "import.completed"
        data = payload["data"]
        assert (data["job_id"], data["state"], data["rows"]["created"], data["rows"]["failed"]) == (
            job_id,
            "COMPLETED",
            2,
            0,
        )
        assert data["file"]["name"] == "feed.csv"
        assert data["links"]["status"].endswith(f"/imports/{job_id}")
        webhook_id = first.headers["webhook-id"]

        delivery = settled(running_system, subscription, webhook_id, attempts=1)
        assert delivery["state"] == "delivered"
        assert [(a["status_code"], a["error"]) for a in delivery["attempts"]] == [(200, None)]
        assert delivery["attempts"][0]["response_ms"] >= 0

        # Redelivery from the console: the same message (webhook-id and body), signed afresh.
        answer = httpx.post(
            f"{running_system.api_url}/admin/webhooks/deliveries/{delivery['id']}/redeliver", headers=ADMIN
        )
        assert answer.status_code == 202, answer.text
        _, again = received_for(webhook_host, path, job_id, count=2)
        assert again.headers["webhook-id"] == webhook_id
        assert again.body == first.body
        verify(secret, again.headers, again.body)
        redelivered = settled(running_system, subscription, webhook_id, attempts=2)
        assert redelivered["state"] == "delivered"
        assert [a["number"] for a in redelivered["attempts"]] == [1, 2]
    finally:
        unsubscribe(running_system, subscription)


def test_a_receiver_that_fails_twice_gets_the_delivery_on_the_third_attempt(
    running_system: System, webhook_host: WebhookReceiver, unique: str
) -> None:
    path = f"/hooks/flaky-{unique}"
    webhook_host.script(path, 500, 500)  # then 200
    subscription = subscribe(running_system, webhook_host, path, "import.completed")
    try:
        job_id = import_feed(running_system, feed(unique))
        received = received_for(webhook_host, path, job_id, count=3)
        assert [r.answered for r in received] == [500, 500, 200]
        assert len({r.headers["webhook-id"] for r in received}) == 1  # one message, tried three times
        for r in received:
            verify(subscription["secret"], r.headers, r.body)

        delivery = settled(running_system, subscription, received[0].headers["webhook-id"], attempts=3)
        assert delivery["state"] == "delivered"
        assert [(a["status_code"], a["error"]) for a in delivery["attempts"]] == [
            (500, "http_500"),
            (500, "http_500"),
            (200, None),
        ]
        assert delivery["attempt_count"] == 3
    finally:
        unsubscribe(running_system, subscription)


def test_a_failed_import_is_announced_as_import_failed(
    running_system: System, webhook_host: WebhookReceiver, unique: str
) -> None:
    path = f"/hooks/failed-{unique}"
    subscription = subscribe(running_system, webhook_host, path, "import.failed")
    try:
        job_id = import_feed(running_system, gzip.compress(feed(unique)), name="feed.csv.gz")
        [delivered] = received_for(webhook_host, path, job_id)
        verify(subscription["secret"], delivered.headers, delivered.body)
        payload = json.loads(delivered.body)
        assert payload["type"] == "import.failed"
        assert payload["data"]["state"] == "FAILED"
        assert "gzip" in payload["data"]["error"]
    finally:
        unsubscribe(running_system, subscription)


def test_a_subscription_to_an_internal_address_is_refused(running_system: System) -> None:
    for url in ("http://127.0.0.1:6379/hook", "http://169.254.169.254/latest", "http://[::1]:8000/x"):
        answer = httpx.post(
            f"{running_system.api_url}/admin/webhooks",
            json={"url": url, "event_types": ["import.completed"]},
            headers=ADMIN,
        )
        assert answer.status_code == 422, (url, answer.text)
        assert answer.headers["content-type"] == "application/problem+json"
        assert [e["field"] for e in answer.json()["errors"]] == ["url"]


def test_a_delivery_waiting_for_its_retry_survives_a_kill_of_the_dispatcher(
    running_system: System, webhook_host: WebhookReceiver, unique: str
) -> None:
    path = f"/hooks/killed-{unique}"
    webhook_host.script(path, 500, 500, 500)  # then 200
    subscription = subscribe(running_system, webhook_host, path, "import.completed")
    try:
        job_id = import_feed(running_system, feed(unique))
        [first] = received_for(webhook_host, path, job_id)
        webhook_id = first.headers["webhook-id"]
        wait_until(lambda: delivery_of(running_system, subscription, webhook_id)["attempts"], timeout=60)
        running_system.kill("webhooks")  # its supervisor starts it again

        received = received_for(webhook_host, path, job_id, count=4)
        assert [r.answered for r in received[:4]] == [500, 500, 500, 200]
        assert {r.headers["webhook-id"] for r in received} == {webhook_id}
        delivery = settled(running_system, subscription, webhook_id, attempts=4)
        assert delivery["state"] == "delivered"
        statuses = [a["status_code"] for a in delivery["attempts"]]
        # An attempt cut off by the kill may have reached the receiver unrecorded; none is recorded twice.
        assert statuses[-1] == 200
        assert set(statuses[:-1]) == {500}
        assert len(received) >= len(statuses)
    finally:
        unsubscribe(running_system, subscription)


def test_an_enrichment_made_without_the_provider_is_announced_as_degraded(
    running_system: System, webhook_host: WebhookReceiver, unique: str
) -> None:
    path = f"/hooks/degraded-{unique}"
    subscription = subscribe(running_system, webhook_host, path, "product.enrichment_degraded")
    running_system.restart("enricher", PROVIDER_FAILURE_RATE="1")  # the provider is down
    try:
        body = {"sku": f"DG-{unique}", "name": f"Degraded tee {unique}", "price": "5.00", "currency": "EUR"}
        created = httpx.post(f"{running_system.api_url}/products", json=body, headers=WRITER)
        assert created.status_code == 201, created.text
        product_id = created.json()["id"]

        def arrived() -> Received | None:
            found = [r for r in webhook_host.at(path) if json.loads(r.body)["data"]["product_id"] == product_id]
            return found[0] if found else None

        delivered = wait_until(arrived, timeout=120, interval=0.2)
        verify(subscription["secret"], delivered.headers, delivered.body)
        payload = json.loads(delivered.body)
        assert payload["type"] == "product.enrichment_degraded"
        assert payload["data"] == {
            "product_id": product_id,
            "version": 1,
            "degraded": ["keywords"],
            "reason": "provider_unavailable",
        }
    finally:
        running_system.restart("enricher")  # the provider back for the tests after this one
        unsubscribe(running_system, subscription)
    running_system.wait_until_consuming()


def test_a_delivery_that_ran_out_of_attempts_is_failed_and_goes_out_when_redelivered(
    running_system: System, webhook_host: WebhookReceiver, unique: str
) -> None:
    path = f"/hooks/down-{unique}"
    webhook_host.script(path, *[503] * 5)  # WEBHOOK_MAX_ATTEMPTS (5) failures, then the receiver is back
    subscription = subscribe(running_system, webhook_host, path, "import.completed")
    try:
        answer = httpx.post(f"{running_system.api_url}/admin/webhooks/{subscription['id']}/test", headers=ADMIN)
        assert answer.status_code == 202, answer.text
        webhook_id = answer.json()["webhook_id"]

        failed = settled(running_system, subscription, webhook_id, attempts=5)
        assert failed["state"] == "failed"
        assert [a["error"] for a in failed["attempts"]] == ["http_503"] * 5
        assert failed["next_attempt_at"] is None
        received = [r for r in webhook_host.at(path) if r.headers["webhook-id"] == webhook_id]
        assert [r.answered for r in received] == [503] * 5
        assert json.loads(received[0].body)["type"] == "webhook.test"

        redelivered = httpx.post(
            f"{running_system.api_url}/admin/webhooks/deliveries/{failed['id']}/redeliver", headers=ADMIN
        )
        assert (redelivered.status_code, redelivered.json()["state"]) == (202, "pending")
        delivered = settled(running_system, subscription, webhook_id, attempts=6)
        assert delivered["state"] == "delivered"
        assert [a["status_code"] for a in delivered["attempts"]] == [503] * 5 + [200]
        last = [r for r in webhook_host.at(path) if r.headers["webhook-id"] == webhook_id][-1]
        verify(subscription["secret"], last.headers, last.body)
    finally:
        unsubscribe(running_system, subscription)


def test_deliveries_go_out_while_the_broker_is_unreachable(
    fresh_database: str, webhook_host: WebhookReceiver, tmp_path: Path, unique: str
) -> None:
    """A dispatcher started with no broker to reach still sends the deliveries waiting in the database (the
    fan-out waits for the broker; the delivery loop does not), and its /metrics counts them."""
    path = f"/no-broker/{unique}"
    engine = make_engine(fresh_database)
    sessions = make_session_factory(engine)
    secret = new_secret()
    with sessions() as session, session.begin():
        repository = WebhookRepository(session)
        subscription = repository.add_subscription(
            url=webhook_host.url(path),
            event_types=["import.completed"],
            secret=secret,
            description=None,
            created_by=None,
        )
        paused = repository.add_subscription(
            url=webhook_host.url(f"{path}/paused"),
            event_types=["import.completed"],
            secret=new_secret(),
            description=None,
            created_by=None,
        )
        repository.update_subscription(paused.id, active=False)
        due = repository.add_delivery(subscription.id, event_id=f"evt-{unique}", event_type=TEST_EVENT, body="{}")
        repository.add_delivery(paused.id, event_id=f"evt-paused-{unique}", event_type=TEST_EVENT, body="{}")
    health = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": fresh_database,
        "KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{free_port()}",  # nothing listens there
        "OUTBOUND_ALLOW": webhook_host.address,
        "OUTBOUND_PORTS": "80,443",
        "HEALTH_PORT": str(health),
        "WEBHOOK_POLL_INTERVAL_S": "0.2",
        "WEBHOOK_METRICS_INTERVAL_S": "0.2",
        "LOG_LEVEL": "INFO",
    }
    process = ManagedProcess("webhooks-no-broker", tmp_path / "run", tmp_path / "log")
    process.start([bin_path("catalog-webhooks")], env=env, cwd=tmp_path)
    try:
        [received] = wait_until(lambda: webhook_host.at(path) or None, timeout=120, interval=0.2)
        assert received.headers["webhook-id"] == f"evt-{unique}"
        verify(secret, received.headers, received.body, tolerance_s=300)
        assert not webhook_host.at(f"{path}/paused")  # an inactive subscription's delivery waits

        def scraped() -> str | None:
            try:
                return httpx.get(f"http://127.0.0.1:{health}/metrics", timeout=5).text
            except httpx.TransportError:
                return None

        def counted() -> str | None:
            text = scraped()
            if text is None or metric(text, "catalog_webhook_deliveries_total", outcome="delivered") != 1:
                return None
            return text if metric(text, "catalog_webhook_pending") == 1 else None

        text = wait_until(counted, timeout=60, interval=0.2)
        assert text is not None
        assert metric(text, "catalog_webhook_failed") == 0
        assert metric(text, "catalog_webhook_deliveries_total", outcome="retry") == 0
        assert metric(text, "catalog_webhook_attempt_seconds_count") == 1
        # The broker really was out of reach all along: the processor is not ready.
        ready = httpx.get(f"http://127.0.0.1:{health}/readyz", timeout=5)
        assert ready.status_code == 503
        with sessions() as session:
            assert WebhookRepository(session).delivery(due.id).state == DeliveryState.DELIVERED
    finally:
        process.stop()
        engine.dispose()
