"""The delivery loop's rules with fakes for its ports: what is signed, what an answer leads to, that an outage of
our own database uses up no attempt, and what its metrics count."""

import asyncio
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
import sqlalchemy.exc
from prometheus_client import REGISTRY

from catalog_core.domain.webhooks import DeliveryState, new_secret
from catalog_webhooks.adapters.deliveries import AttemptResult, ClaimedDelivery, Outcome
from catalog_webhooks.adapters.metrics import WebhookMetrics, outcome_of
from catalog_webhooks.domain.backoff import RetrySchedule
from catalog_webhooks.domain.signing import verify
from catalog_webhooks.service_layer.dispatch import DeliveryLoop

SCHEDULE = RetrySchedule(max_attempts=3, base_s=10, cap_s=100, jitter=0.0)


def claimed(round_attempts: int = 0, secret: str | None = None) -> ClaimedDelivery:
    return ClaimedDelivery(
        id=uuid.uuid4(),
        subscription_id=uuid.uuid4(),
        event_id=str(uuid.uuid4()),
        event_type="import.completed",
        body='{"type":"import.completed"}',
        round_attempts=round_attempts,
        url="https://hooks.example.com/x",
        secret=secret or new_secret(),
        token=uuid.uuid4(),
    )


class Store:
    def __init__(self, *batches: list[ClaimedDelivery], outage: bool = False) -> None:
        self.batches = list(batches)
        self.outage = outage
        self.recorded: list[tuple[ClaimedDelivery, AttemptResult, float | None]] = []

    def claim_due(self, limit: int, lease: timedelta) -> list[ClaimedDelivery]:
        if self.outage:
            raise sqlalchemy.exc.OperationalError("SELECT", {}, psycopg.OperationalError("connection refused"))
        return self.batches.pop(0) if self.batches else []

    def record_many(self, outcomes: Sequence[Outcome]) -> list[bool]:
        self.recorded += [(o.claimed, o.result, o.retry_in_s) for o in outcomes]
        return [True] * len(outcomes)


class Sender:
    def __init__(self, status: int | None) -> None:
        self.status = status
        self.sent: list[tuple[str, dict[str, str], bytes]] = []

    def post(self, url: str, headers: dict[str, str], body: bytes) -> AttemptResult:
        self.sent.append((url, headers, body))
        ok = self.status is not None and 200 <= self.status < 300
        error = None if ok else ("timeout" if self.status is None else f"http_{self.status}")
        return AttemptResult(datetime.now(UTC), self.status, error, 7)


def run(loop: DeliveryLoop) -> int:
    return asyncio.run(loop.run_due())


def test_a_delivery_is_sent_signed_with_its_subscription_secret_and_recorded_as_delivered() -> None:
    delivery = claimed()
    store, sender = Store([delivery]), Sender(204)
    assert run(DeliveryLoop(store, sender, SCHEDULE, batch=5)) == 1
    [(url, headers, body)] = sender.sent
    assert (url, body) == (delivery.url, delivery.body.encode())
    assert headers["webhook-id"] == delivery.event_id
    verify(delivery.secret, headers, body)
    [(_, result, retry_in)] = store.recorded
    assert result.delivered
    assert retry_in is None


@pytest.mark.parametrize(("round_attempts", "retry_in"), [(0, 10.0), (1, 20.0), (2, None)])
def test_a_failed_attempt_is_retried_on_the_schedule_until_it_runs_out(
    round_attempts: int, retry_in: float | None
) -> None:
    store = Store([claimed(round_attempts)])
    run(DeliveryLoop(store, Sender(500), SCHEDULE))
    [(_, result, scheduled)] = store.recorded
    assert (result.error, scheduled) == ("http_500", retry_in)


def test_full_batches_are_taken_until_nothing_is_due() -> None:
    store = Store([claimed(), claimed()], [claimed()])
    sender = Sender(200)
    assert run(DeliveryLoop(store, sender, SCHEDULE, batch=2)) == 3
    assert len(sender.sent) == 3


def test_a_database_outage_sends_nothing_and_uses_up_no_attempt() -> None:
    store, sender = Store([claimed()], outage=True), Sender(200)
    loop = DeliveryLoop(store, sender, SCHEDULE)
    assert run(loop) == 0
    assert (sender.sent, store.recorded) == ([], [])
    store.outage = False  # the database is back: the delivery goes out
    assert run(loop) == 1
    assert len(store.recorded) == 1


def test_a_bug_is_not_mistaken_for_an_outage() -> None:
    class Broken(Store):
        def claim_due(self, limit: int, lease: timedelta) -> list[ClaimedDelivery]:
            raise ValueError("a bug")

    with pytest.raises(ValueError, match="a bug"):
        run(DeliveryLoop(Broken(), Sender(200), SCHEDULE))


class Attempts:
    def __init__(self) -> None:
        self.seen: list[Outcome] = []

    def attempted(self, outcomes: Sequence[Outcome]) -> None:
        self.seen += outcomes


def test_every_attempt_is_reported_to_the_observer_with_what_it_leads_to() -> None:
    observer = Attempts()
    store = Store([claimed(0), claimed(2)])
    run(DeliveryLoop(store, Sender(503), SCHEDULE, observer=observer))
    assert sorted(outcome_of(o) for o in observer.seen) == ["failed", "retry"]
    observer.seen.clear()
    run(DeliveryLoop(Store([claimed()]), Sender(200), SCHEDULE, observer=observer))
    assert [outcome_of(o) for o in observer.seen] == ["delivered"]


def test_webhook_metrics_count_outcomes_time_attempts_and_keep_the_sampled_backlog() -> None:
    def value(name: str, **labels: str) -> float:
        return REGISTRY.get_sample_value(name, labels) or 0.0

    metrics = WebhookMetrics()
    before = {o: value("catalog_webhook_deliveries_total", outcome=o) for o in ("delivered", "retry", "failed")}
    slow_before = value("catalog_webhook_attempt_seconds_bucket", le="2.5")
    seen = value("catalog_webhook_attempt_seconds_count")
    ok = AttemptResult(datetime.now(UTC), 200, None, 40)
    slow = AttemptResult(datetime.now(UTC), None, "timeout", 3000)
    metrics.attempted([Outcome(claimed(), ok, None), Outcome(claimed(), slow, 10.0), Outcome(claimed(), slow, None)])
    assert {o: value("catalog_webhook_deliveries_total", outcome=o) - before[o] for o in before} == {
        "delivered": 1,
        "retry": 1,
        "failed": 1,
    }
    assert value("catalog_webhook_attempt_seconds_count") == seen + 3
    assert value("catalog_webhook_attempt_seconds_bucket", le="2.5") == slow_before + 1  # 40 ms in, 3 s out
    metrics.unfinished({DeliveryState.PENDING: 4})
    assert (value("catalog_webhook_pending"), value("catalog_webhook_failed")) == (4, 0)
