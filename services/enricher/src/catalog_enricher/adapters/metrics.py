"""The enricher's own metrics: outcomes of enrichment, and the state of each provider's circuit breaker."""

from collections.abc import Callable, Sequence

from prometheus_client import Counter, Gauge

from catalog_enricher.adapters.catalog_store import SaveOutcome
from catalog_enricher.adapters.provider import BreakerState, CircuitBreaker
from catalog_enricher.adapters.work_queue import QueueCounts
from catalog_enricher.domain.priorities import Priority

ENRICHMENT = Counter(
    "catalog_enrichment",
    "Products enriched, by outcome: saved, unchanged (already stored), stale (still behind after the recomputes), "
    "gone (deleted).",
    ["status"],
)
BREAKER_STATE = Gauge(
    "catalog_enrichment_breaker_state",
    "Circuit breaker of an enrichment provider: 0 closed, 1 half-open, 2 open.",
    ["provider"],
)
PENDING = Gauge(
    "catalog_enrichment_pending",
    "Enrichment work queued (claimable or claimed), by priority: critical, high, normal, low.",
    ["priority"],
)
PARKED = Gauge("catalog_enrichment_parked", "Low enrichment work parked while the backlog is over its bound.")
FAILED = Gauge("catalog_enrichment_failed", "Products whose enrichment failed, until they change again.")
SHED = Counter(
    "catalog_enrichment_shed",
    "What backpressure did: low work parked, bulk products slowed, parked work released.",
    ["action"],
)
PROVIDER_CALLS = Counter(
    "catalog_enrichment_provider_calls",
    "Calls (attempts) to an enrichment provider, by outcome: ok, error, timeout, rate_limited (429), circuit_open "
    "(refused by the breaker without a call).",
    ["provider", "outcome"],
)
BREAKER_VALUES = {BreakerState.CLOSED: 0.0, BreakerState.HALF_OPEN: 1.0, BreakerState.OPEN: 2.0}


class EnrichmentMetrics:
    def __init__(self) -> None:
        self._outcomes = {outcome: ENRICHMENT.labels(outcome.value) for outcome in SaveOutcome}

    def watch_breaker(self, provider: str, breaker: CircuitBreaker) -> None:
        """Report the breaker's state whenever scraped (it changes inside the provider's calls)."""
        BREAKER_STATE.labels(provider).set_function(lambda: BREAKER_VALUES[breaker.state])

    def enriched(self, outcomes: Sequence[SaveOutcome]) -> None:
        """One batch's outcomes, one per product: counted per outcome, once per batch."""
        for outcome in SaveOutcome:
            if count := outcomes.count(outcome):
                self._outcomes[outcome].inc(count)

    def queue(self, counts: QueueCounts) -> None:
        """The work queue as last counted."""
        for priority in Priority:
            PENDING.labels(priority.label).set(counts.pending.get(priority, 0))
        PARKED.set(counts.parked)
        FAILED.set(counts.failed)

    @staticmethod
    def shed(action: str, count: int) -> None:
        SHED.labels(action).inc(count)

    @staticmethod
    def provider_call(provider: str) -> Callable[[str], None]:
        """A counter of one provider's attempts by outcome, for `ResilientProvider(observe=...)`."""
        return lambda outcome: PROVIDER_CALLS.labels(provider, outcome).inc()
