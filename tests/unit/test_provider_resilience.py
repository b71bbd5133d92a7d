"""Enrichment providers: the local synonym provider, the circuit breaker, and timeouts/retries/backoff around them.

The retries run through stamina in its test mode: every configured attempt is made, the pauses are not waited out.
The pauses the provider asks for are recorded, and so is every retry stamina actually scheduled.
"""

import asyncio
from collections.abc import Iterator
from dataclasses import replace
from decimal import Decimal
from typing import Any

import pytest
import stamina
from stamina.instrumentation import RetryDetails, set_on_retry_hooks

from catalog_enricher.adapters.provider import (
    BreakerState,
    CircuitBreaker,
    EnrichmentProvider,
    LocalProvider,
    ProviderResult,
    ProviderUnavailable,
    ResilientProvider,
)
from catalog_enricher.domain.facts import ProductFacts

PRODUCT = ProductFacts(
    id="0190f0b4-5a7e-7c3d-9f1e-2b6a8c4d0e11",
    version=1,
    sku="TEE-001",
    name="Linen Tee",
    brand="Acme",
    description=None,
    price=Decimal("19.90"),
    currency="EUR",
    attributes={"style": "Sneaker", "color": "Grey"},
    images=(),
    variant_count=0,
)
ANSWER = ProviderResult(keywords=("t-shirt",))


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class RecordingProvider(ResilientProvider):
    """Records the backoff pauses it asks for before each retry."""

    def __init__(self, inner: EnrichmentProvider, **options: Any) -> None:
        super().__init__(inner, **options)
        self.pauses: list[float] = []

    def backoff(self, retry: int) -> float:
        pause = super().backoff(retry)
        self.pauses.append(pause)
        return pause


@pytest.fixture(autouse=True)
def retries() -> Iterator[list[RetryDetails]]:
    """The retries stamina schedules; in test mode it makes every configured attempt without waiting."""
    scheduled: list[RetryDetails] = []

    def record(details: RetryDetails) -> None:
        scheduled.append(details)

    set_on_retry_hooks([record])
    try:
        with stamina.set_testing(True, attempts=1000, cap=True):
            yield scheduled
    finally:
        set_on_retry_hooks(None)


class ScriptedProvider:
    """Answers from a script: an exception to raise, "hang" to never answer, or a result to return."""

    name = "scripted"

    def __init__(self, *script: Any) -> None:
        self.script = list(script)
        self.calls = 0

    async def lookup(self, facts: ProductFacts) -> ProviderResult:
        step = self.script[min(self.calls, len(self.script) - 1)]
        self.calls += 1
        if step == "hang":
            await asyncio.Event().wait()
        if isinstance(step, Exception):
            raise step
        assert isinstance(step, ProviderResult)
        return step


def state(breaker: CircuitBreaker) -> BreakerState:
    # Through a function because mypy keeps a property narrowed by an assert even across calls that change it.
    return breaker.state


def resilient(inner: EnrichmentProvider, clock: FakeClock, **options: Any) -> RecordingProvider:
    settings: dict[str, Any] = {
        "timeout_s": 0.002,
        "max_attempts": 3,
        "backoff_base_s": 0.1,
        "backoff_cap_s": 2.0,
        "failure_threshold": 5,
        "reset_after_s": 30.0,
        "random": lambda: 1.0,  # the jitter's upper bound, so the pauses are the exponential ceilings
    }
    return RecordingProvider(inner, clock=clock, **(settings | options))


# --- LocalProvider -------------------------------------------------------------------------------------------------


def test_local_provider_adds_synonyms_of_the_name_and_attributes() -> None:
    result = asyncio.run(LocalProvider().lookup(PRODUCT))
    assert result == ProviderResult(keywords=("t-shirt", "gray", "trainer"))


def test_local_provider_does_not_repeat_words_the_product_already_uses() -> None:
    product = replace(PRODUCT, name="Tee / T-Shirt", attributes={})
    assert asyncio.run(LocalProvider().lookup(product)) == ProviderResult(keywords=())


def test_local_provider_takes_its_own_table_folded() -> None:
    provider = LocalProvider({"Crème": ["Lotion"]})
    product = replace(PRODUCT, name="CREME de jour", attributes={})
    assert asyncio.run(provider.lookup(product)) == ProviderResult(keywords=("lotion",))


# --- CircuitBreaker ------------------------------------------------------------------------------------------------


def test_breaker_opens_after_the_threshold_of_consecutive_failures() -> None:
    breaker = CircuitBreaker(failure_threshold=3, reset_after_s=10, clock=FakeClock())
    for _ in range(2):
        breaker.record_failure()
        assert state(breaker) is BreakerState.CLOSED
        assert breaker.allow()
    breaker.record_failure()
    assert state(breaker) is BreakerState.OPEN
    assert not breaker.allow()


def test_a_success_resets_the_count_of_consecutive_failures() -> None:
    breaker = CircuitBreaker(failure_threshold=3, reset_after_s=10, clock=FakeClock())
    breaker.record_failure()
    breaker.record_failure()
    breaker.record_success()
    breaker.record_failure()
    breaker.record_failure()
    assert state(breaker) is BreakerState.CLOSED


def test_open_breaker_lets_one_trial_through_after_reset_after() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(failure_threshold=1, reset_after_s=10, clock=clock)
    breaker.record_failure()
    clock.advance(9.999)
    assert not breaker.allow()
    assert state(breaker) is BreakerState.OPEN
    clock.advance(0.001)
    assert breaker.allow()
    assert state(breaker) is BreakerState.HALF_OPEN
    assert not breaker.allow()  # only one trial at a time


def test_an_open_breaker_says_a_trial_may_go_ahead_without_starting_one() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(failure_threshold=1, reset_after_s=10, clock=clock)
    assert breaker.may_try()
    breaker.record_failure()
    assert not breaker.may_try()
    clock.advance(10)
    assert breaker.may_try()
    assert breaker.may_try()  # asking twice starts nothing
    assert state(breaker) is BreakerState.OPEN
    assert breaker.allow()  # the trial itself
    assert not breaker.may_try()  # one trial at a time


def test_a_successful_trial_closes_the_breaker() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(failure_threshold=1, reset_after_s=10, clock=clock)
    breaker.record_failure()
    clock.advance(10)
    assert breaker.allow()
    breaker.record_success()
    assert state(breaker) is BreakerState.CLOSED
    assert breaker.allow()
    assert breaker.allow()


def test_a_failed_trial_reopens_the_breaker_for_another_full_period() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(failure_threshold=3, reset_after_s=10, clock=clock)
    for _ in range(3):
        breaker.record_failure()
    clock.advance(10)
    assert breaker.allow()
    breaker.record_failure()  # one failure suffices in half-open
    assert state(breaker) is BreakerState.OPEN
    clock.advance(9)
    assert not breaker.allow()
    clock.advance(1)
    assert breaker.allow()


def test_a_trial_that_never_reports_back_is_replaced_after_reset_after() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(failure_threshold=1, reset_after_s=10, clock=clock)
    breaker.record_failure()
    clock.advance(10)
    assert breaker.allow()
    clock.advance(10)
    assert breaker.allow()
    assert state(breaker) is BreakerState.HALF_OPEN


def test_late_results_do_not_change_an_open_breaker() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(failure_threshold=1, reset_after_s=10, clock=clock)
    breaker.record_failure()
    clock.advance(5)
    breaker.record_failure()
    breaker.record_success()
    assert state(breaker) is BreakerState.OPEN
    clock.advance(5)
    assert breaker.allow()  # the open period was not extended by the late failure


def test_breaker_refuses_a_threshold_below_one() -> None:
    with pytest.raises(ValueError, match="failure_threshold"):
        CircuitBreaker(failure_threshold=0)


# --- ResilientProvider ---------------------------------------------------------------------------------------------


def causes(retries: list[RetryDetails]) -> list[str]:
    """What made stamina schedule each retry: the failure of the provider behind the failed attempt."""
    return [repr(retry.caused_by.__cause__) for retry in retries]


def test_a_healthy_provider_answers_through_the_wrapper(retries: list[RetryDetails]) -> None:
    inner = ScriptedProvider(ANSWER)
    provider = resilient(inner, FakeClock())
    assert asyncio.run(provider.lookup(PRODUCT)) == ANSWER
    assert provider.name == "scripted"
    assert (inner.calls, provider.pauses, retries) == (1, [], [])


def test_a_slow_provider_times_out_on_every_attempt_with_exponential_backoff(retries: list[RetryDetails]) -> None:
    inner = ScriptedProvider("hang")
    provider = resilient(inner, FakeClock(), max_attempts=4)
    with pytest.raises(ProviderUnavailable, match=r"timed out after 0\.002s, after 4 attempts") as info:
        asyncio.run(provider.lookup(PRODUCT))
    assert isinstance(info.value.__cause__, TimeoutError)
    assert inner.calls == 4
    assert provider.pauses == pytest.approx([0.1, 0.2, 0.4])
    assert [retry.retry_num for retry in retries] == [1, 2, 3]
    assert causes(retries) == ["TimeoutError()"] * 3


def test_backoff_is_capped_and_fully_jittered(retries: list[RetryDetails]) -> None:
    jitter = iter([1.0, 0.5, 1.0, 0.25, 0.0])
    provider = resilient(
        ScriptedProvider(RuntimeError("down")),
        FakeClock(),
        max_attempts=6,
        backoff_base_s=1.0,
        backoff_cap_s=3.0,
        failure_threshold=10,
        random=lambda: next(jitter),
    )
    with pytest.raises(ProviderUnavailable, match="after 6 attempts"):
        asyncio.run(provider.lookup(PRODUCT))
    # Ceilings 1, 2, 4→3, 8→3, 16→3, each scaled by the jitter draw; no draw after the last attempt.
    assert provider.pauses == pytest.approx([1.0, 1.0, 3.0, 0.75, 0.0])
    assert len(retries) == 5


def test_a_transient_failure_is_retried(retries: list[RetryDetails]) -> None:
    inner = ScriptedProvider(ConnectionError("reset"), ANSWER)
    provider = resilient(inner, FakeClock())
    assert asyncio.run(provider.lookup(PRODUCT)) == ANSWER
    assert inner.calls == 2
    assert provider.pauses == pytest.approx([0.1])
    assert causes(retries) == ["ConnectionError('reset')"]
    assert state(provider.breaker) is BreakerState.CLOSED


def test_a_failing_provider_opens_the_circuit_and_then_fails_fast(retries: list[RetryDetails]) -> None:
    clock = FakeClock()
    inner = ScriptedProvider(ConnectionError("refused"))
    provider = resilient(inner, clock, max_attempts=3, failure_threshold=5)

    with pytest.raises(ProviderUnavailable, match="after 3 attempts"):
        asyncio.run(provider.lookup(PRODUCT))
    assert state(provider.breaker) is BreakerState.CLOSED
    with pytest.raises(ProviderUnavailable, match="circuit opened"):
        asyncio.run(provider.lookup(PRODUCT))  # the 5th failure opens it: no pause before a refused attempt
    assert inner.calls == 5
    assert state(provider.breaker) is BreakerState.OPEN
    assert provider.pauses == pytest.approx([0.1, 0.2, 0.1])
    assert len(retries) == 3

    clock.advance(29)
    for _ in range(3):
        with pytest.raises(ProviderUnavailable, match="circuit open"):
            asyncio.run(provider.lookup(PRODUCT))
    assert inner.calls == 5  # not called while open
    assert len(provider.pauses) == len(retries) == 3


def test_a_successful_half_open_trial_closes_the_circuit() -> None:
    clock = FakeClock()
    inner = ScriptedProvider(ConnectionError("refused"), ConnectionError("refused"), ANSWER)
    provider = resilient(inner, clock, max_attempts=2, failure_threshold=2, reset_after_s=30)
    with pytest.raises(ProviderUnavailable):
        asyncio.run(provider.lookup(PRODUCT))
    assert state(provider.breaker) is BreakerState.OPEN

    clock.advance(30)
    assert asyncio.run(provider.lookup(PRODUCT)) == ANSWER
    assert state(provider.breaker) is BreakerState.CLOSED
    assert inner.calls == 3
    assert asyncio.run(provider.lookup(PRODUCT)) == ANSWER


def test_a_failed_half_open_trial_reopens_the_circuit_without_retrying(retries: list[RetryDetails]) -> None:
    clock = FakeClock()
    inner = ScriptedProvider(ConnectionError("refused"))
    provider = resilient(inner, clock, max_attempts=3, failure_threshold=1, reset_after_s=30)
    with pytest.raises(ProviderUnavailable, match="circuit opened"):
        asyncio.run(provider.lookup(PRODUCT))

    clock.advance(30)
    with pytest.raises(ProviderUnavailable, match="circuit opened"):
        asyncio.run(provider.lookup(PRODUCT))
    assert inner.calls == 2  # one call to open it, one trial
    assert (provider.pauses, retries) == ([], [])
    assert state(provider.breaker) is BreakerState.OPEN


def test_with_retries_switched_off_a_lookup_makes_one_attempt(retries: list[RetryDetails]) -> None:
    inner = ScriptedProvider(ConnectionError("refused"), ANSWER)
    provider = resilient(inner, FakeClock(), max_attempts=3)
    stamina.set_active(False)
    try:
        with pytest.raises(ProviderUnavailable, match=r"ConnectionError.*, after 1 attempts"):
            asyncio.run(provider.lookup(PRODUCT))
    finally:
        stamina.set_active(True)
    assert (inner.calls, retries) == (1, [])


def test_the_wrapper_is_itself_a_provider() -> None:
    wrapped: EnrichmentProvider = resilient(LocalProvider(), FakeClock())
    assert asyncio.run(wrapped.lookup(PRODUCT)).keywords == ("t-shirt", "gray", "trainer")
    assert wrapped.name == "local"


def test_the_wrapper_refuses_fewer_than_one_attempt() -> None:
    with pytest.raises(ValueError, match="max_attempts"):
        ResilientProvider(LocalProvider(), max_attempts=0)


# --- rate limiting: 429 and Retry-After ----------------------------------------------------------------------------


class PauseRecordingProvider(RecordingProvider):
    """Records every pause the retry policy hands to stamina (test mode does not wait them out)."""

    def __init__(self, inner: EnrichmentProvider, **options: Any) -> None:
        super().__init__(inner, **options)
        self.policy_pauses: list[bool | float] = []

    def _pause_before_retry(self, error: Exception) -> bool | float:
        pause = super()._pause_before_retry(error)
        self.policy_pauses.append(pause)
        return pause


def test_a_throttled_call_is_retried_after_the_wait_the_provider_asked_for_and_the_breaker_is_not_told() -> None:
    from catalog_enricher.adapters.provider import ProviderThrottled

    outcomes: list[str] = []
    inner = ScriptedProvider(ProviderThrottled(429, 7.0), ProviderThrottled(429, 99.0), ANSWER)
    options: dict[str, Any] = {"failure_threshold": 1, "retry_after_cap_s": 30.0, "observe": outcomes.append}
    provider = PauseRecordingProvider(inner, clock=FakeClock(), max_attempts=3, random=lambda: 1.0, **options)
    assert asyncio.run(provider.lookup(PRODUCT)) == ANSWER
    assert provider.policy_pauses == [7.0, 30.0]  # as asked, within the cap
    assert state(provider.breaker) is BreakerState.CLOSED
    assert outcomes == ["rate_limited", "rate_limited", "ok"]


def test_every_attempt_waits_for_a_permit_of_the_rate_limit() -> None:
    permits: list[int] = []

    async def permit() -> None:
        permits.append(len(permits))

    inner = ScriptedProvider(RuntimeError("500"), ANSWER)
    provider = resilient(inner, FakeClock(), permit=permit)
    assert asyncio.run(provider.lookup(PRODUCT)) == ANSWER
    assert permits == [0, 1]


def test_retry_after_reads_seconds_and_http_dates() -> None:
    from datetime import UTC, datetime

    from catalog_enricher.adapters.http_provider import retry_after

    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert retry_after("12", now) == 12.0
    assert retry_after("Thu, 01 Jan 2026 12:00:05 GMT", now) == 5.0
    assert retry_after("Thu, 01 Jan 2026 11:00:00 GMT", now) == 0.0
    assert retry_after("soon", now) is None
    assert retry_after(None, now) is None
