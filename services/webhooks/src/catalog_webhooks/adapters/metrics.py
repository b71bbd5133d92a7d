"""The webhooks service's own metrics: attempts by outcome and their response time, and the deliveries that wait
or ran out of attempts (sampled from the table on a timer, so a scrape never queries the database)."""

from collections.abc import Mapping, Sequence

from prometheus_client import Counter, Gauge, Histogram

from catalog_core.domain.webhooks import DeliveryState
from catalog_webhooks.adapters.deliveries import Outcome

OUTCOMES = ("delivered", "retry", "failed")
DELIVERIES = Counter(
    "catalog_webhook_deliveries",
    "Delivery attempts by outcome: delivered (a 2xx), retry (failed, another attempt is scheduled), failed (failed, "
    "the schedule ran out).",
    ["outcome"],
)
ATTEMPT_SECONDS = Histogram(
    "catalog_webhook_attempt_seconds",
    "Duration of one delivery attempt, from the connection to the receiver's answer (or the timeout).",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
PENDING = Gauge("catalog_webhook_pending", "Deliveries pending: due now or waiting for a retry (sampled).")
FAILED = Gauge(
    "catalog_webhook_failed", "Deliveries whose every attempt failed, until redelivered or pruned (sampled)."
)


def outcome_of(outcome: Outcome) -> str:
    if outcome.result.delivered:
        return "delivered"
    return "retry" if outcome.retry_in_s is not None else "failed"


class WebhookMetrics:
    """What the delivery loop and the backlog sampler report."""

    def __init__(self) -> None:
        self._outcomes = {name: DELIVERIES.labels(name) for name in OUTCOMES}  # every series exists from the start

    def attempted(self, outcomes: Sequence[Outcome]) -> None:
        for outcome in outcomes:
            self._outcomes[outcome_of(outcome)].inc()
            ATTEMPT_SECONDS.observe(outcome.result.response_ms / 1000)

    def unfinished(self, counts: Mapping[DeliveryState, int]) -> None:
        PENDING.set(counts.get(DeliveryState.PENDING, 0))
        FAILED.set(counts.get(DeliveryState.FAILED, 0))
