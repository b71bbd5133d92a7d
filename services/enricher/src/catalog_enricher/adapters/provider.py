"""Enrichment providers (sources of extra keywords) and the timeout, retry and circuit breaker around them."""

import asyncio
import enum
import random as _random
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Protocol

import stamina

from catalog_enricher.domain.facts import ProductFacts, fold, words


@dataclass(frozen=True)
class ProviderResult:
    """What a provider knows about a product beyond its core fields."""

    keywords: tuple[str, ...]


class EnrichmentProvider(Protocol):
    """A source of extra keywords for a product, local or remote."""

    name: str

    async def lookup(self, facts: ProductFacts) -> ProviderResult: ...


class ProviderThrottled(Exception):
    """The provider asked to be called less often (HTTP 429, or 503 with Retry-After); `retry_after_s`: how long it
    asked to wait, if it said. Not a failure: the provider is up, so the breaker does not count it."""

    def __init__(self, status: int, retry_after_s: float | None) -> None:
        super().__init__(f"HTTP {status}, retry after {retry_after_s}s")
        self.status = status
        self.retry_after_s = retry_after_s


class ProviderUnavailable(Exception):
    """The provider gave no answer: it failed after the retries, timed out, or its circuit is open."""


# Words shoppers use for the same thing, keyed by the folded word. Both directions are listed where both are common,
# so that a product named either way is found by either word.
SYNONYMS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "tee": ("t-shirt",),
        "tees": ("t-shirts",),
        "t-shirt": ("tee",),
        "t-shirts": ("tees",),
        "tshirt": ("t-shirt", "tee"),
        "sneaker": ("trainer",),
        "sneakers": ("trainers",),
        "trainers": ("sneakers",),
        "jumper": ("sweater",),
        "sweater": ("jumper", "pullover"),
        "pullover": ("sweater",),
        "hoodie": ("sweatshirt",),
        "hoody": ("hoodie",),
        "trousers": ("pants",),
        "pants": ("trousers",),
        "flip-flops": ("sandals",),
        "earbuds": ("earphones", "headphones"),
        "earphones": ("earbuds",),
        "headphones": ("headset",),
        "laptop": ("notebook",),
        "notebook": ("laptop",),
        "cellphone": ("smartphone", "mobile"),
        "smartphone": ("mobile", "phone"),
        "tv": ("television",),
        "television": ("tv",),
        "mug": ("cup",),
        "skillet": ("frying-pan",),
        "crisps": ("chips",),
        "chips": ("crisps",),
        "bike": ("bicycle",),
        "bicycle": ("bike",),
        "perfume": ("fragrance",),
        "parfum": ("perfume", "fragrance"),
        "cologne": ("fragrance",),
        "moisturiser": ("moisturizer",),
        "moisturizer": ("moisturiser",),
        "grey": ("gray",),
        "gray": ("grey",),
        "colour": ("color",),
        "color": ("colour",),
    }
)


class LocalProvider:
    """The default provider: synonyms of the words in a product's name and attributes, from a built-in table."""

    name = "local"

    def __init__(self, synonyms: Mapping[str, Sequence[str]] = SYNONYMS) -> None:
        self._synonyms = {fold(word): tuple(fold(s) for s in found) for word, found in synonyms.items()}

    async def lookup(self, facts: ProductFacts) -> ProviderResult:
        """The synonyms of the product's words that the product does not already use."""
        own = [word for text in (facts.name, *facts.attribute_texts()) for word in words(text)]
        present = set(own)
        found: dict[str, None] = {}  # a dict keeps first-seen order
        for word in own:
            for synonym in self._synonyms.get(word, ()):
                if synonym not in present:
                    found[synonym] = None
        return ProviderResult(keywords=tuple(found))


class BreakerState(enum.StrEnum):
    """The states of a circuit breaker."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitBreaker:
    """Closed until N consecutive failures, then open for reset_after seconds, then half-open for one trial call."""

    def __init__(
        self,
        failure_threshold: int = 5,
        reset_after_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if failure_threshold < 1:
            raise ValueError("failure_threshold must be at least 1")
        self.failure_threshold = failure_threshold
        self.reset_after_s = reset_after_s
        self._clock = clock
        self._state = BreakerState.CLOSED
        self._failures = 0
        self._since = 0.0  # when the circuit opened, or when the half-open trial started

    @property
    def state(self) -> BreakerState:
        """The current state; an open circuit turns half-open only when allow() lets the trial call through."""
        return self._state

    def may_try(self) -> bool:
        """Whether a call would go ahead now (closed, or open long enough for a trial), without starting a trial:
        an open circuit turns half-open only when a call is made, so work that waits for the provider asks this."""
        return self._state is BreakerState.CLOSED or self._clock() - self._since >= self.reset_after_s

    def allow(self) -> bool:
        """Whether a call may go ahead now (in the half-open state, only the one trial call)."""
        if self._state is BreakerState.CLOSED:
            return True
        # A trial that never reported back (its caller was cancelled) must not keep the circuit half-open forever:
        # after another reset_after seconds the next caller becomes the trial.
        if self._clock() - self._since < self.reset_after_s:
            return False
        self._state = BreakerState.HALF_OPEN
        self._since = self._clock()
        return True

    def record_success(self) -> None:
        """A call succeeded: a half-open circuit closes, a closed one forgets its failures."""
        # A late success of a call started before the circuit opened proves little; only the trial closes it.
        if self._state is not BreakerState.OPEN:
            self._state = BreakerState.CLOSED
            self._failures = 0

    def record_failure(self) -> None:
        """A call failed: the trial re-opens the circuit, and the N-th consecutive failure opens a closed one."""
        if self._state is BreakerState.OPEN:
            return  # late failures of calls started before it opened must not extend the open period
        self._failures += 1
        if self._state is BreakerState.HALF_OPEN or self._failures >= self.failure_threshold:
            self._state = BreakerState.OPEN
            self._since = self._clock()


class _FailedAttempt(Exception):
    """One attempt of a lookup failed; the retry policy decides whether another follows (after `retry_after_s`
    when the provider said how long to wait)."""

    def __init__(self, number: int, reason: str, retry_after_s: float | None = None) -> None:
        super().__init__(number, reason)
        self.number = number
        self.reason = reason
        self.retry_after_s = retry_after_s


class ResilientProvider:
    """A provider behind a per-call timeout, retries with exponential backoff and full jitter, and a circuit breaker.

    The attempts and the pauses between them are stamina's (so its test mode and retry instrumentation apply); the
    breaker and the backoff schedule are the provider's own.
    """

    def __init__(
        self,
        inner: EnrichmentProvider,
        *,
        timeout_s: float = 2.0,
        max_attempts: int = 3,
        backoff_base_s: float = 0.1,
        backoff_cap_s: float = 2.0,
        failure_threshold: int = 5,
        reset_after_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
        random: Callable[[], float] = _random.random,
        retry_after_cap_s: float = 30.0,
        observe: Callable[[str], None] = lambda outcome: None,
        permit: Callable[[], Awaitable[object]] | None = None,
    ) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self.name = inner.name
        self.breaker = CircuitBreaker(failure_threshold, reset_after_s, clock)
        self._inner = inner
        self._timeout_s = timeout_s
        self._max_attempts = max_attempts
        self._backoff_base_s = backoff_base_s
        self._backoff_cap_s = backoff_cap_s
        self._random = random
        self._retry_after_cap_s = retry_after_cap_s
        self._observe = observe  # one call per attempt: ok, error, timeout, rate_limited, circuit_open
        self._permit = permit  # the rate limit: every attempt waits for a permit, outside its timeout

    def backoff(self, retry: int) -> float:
        """The pause before retry number `retry` (1 for the first): uniform in [0, min(cap, base * 2^(retry-1)))."""
        # Full jitter spreads the retries of many workers that failed at the same moment, so they do not return in
        # lockstep to a provider that is just recovering.
        return self._random() * min(self._backoff_cap_s, self._backoff_base_s * 2.0 ** (retry - 1))

    async def lookup(self, facts: ProductFacts) -> ProviderResult:
        """The inner provider's answer, or ProviderUnavailable (at once while the circuit is open)."""
        try:
            # No overall time limit: the per-call timeout and the number of attempts bound a lookup.
            async for attempt in stamina.retry_context(
                on=self._pause_before_retry, attempts=self._max_attempts, timeout=None
            ):
                with attempt:
                    return await self._attempt(facts, attempt.num)
        except _FailedAttempt as failed:
            raise ProviderUnavailable(
                f"provider {self.name!r}: {failed.reason}, after {failed.number} attempts"
            ) from failed.__cause__
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _pause_before_retry(self, error: Exception) -> bool | float:
        """The retry policy (a stamina backoff hook): a failed attempt with attempts left is retried after backoff()."""
        if isinstance(error, _FailedAttempt) and error.number < self._max_attempts:
            if error.retry_after_s is not None:  # the provider said when: wait that long, within reason
                return min(error.retry_after_s, self._retry_after_cap_s)
            return self.backoff(error.number)
        return False  # the last attempt, an open circuit, or anything that is not a failure of the provider

    async def _attempt(self, facts: ProductFacts, number: int) -> ProviderResult:
        if not self.breaker.allow():
            self._observe("circuit_open")
            raise ProviderUnavailable(f"provider {self.name!r}: circuit open")
        if self._permit is not None:
            # Waiting for our own rate limit says nothing about the provider: not part of the call's timeout.
            await self._permit()
        try:
            async with asyncio.timeout(self._timeout_s):
                result = await self._inner.lookup(facts)
        except Exception as error:  # any failure of the provider counts, whatever its kind; cancellation does not
            if isinstance(error, ProviderThrottled):
                # Asked to slow down: the provider is up, so the breaker is not told; the retry waits as asked.
                self._observe("rate_limited")
                wait = error.retry_after_s if error.retry_after_s is not None else self.backoff(number)
                raise _FailedAttempt(number, f"rate limited ({error})", wait) from error
            self.breaker.record_failure()
            timed_out = isinstance(error, TimeoutError)
            self._observe("timeout" if timed_out else "error")
            reason = f"timed out after {self._timeout_s}s" if timed_out else repr(error)
            if number < self._max_attempts and self.breaker.state is BreakerState.OPEN:
                # Waiting out a backoff would be pointless: the next attempt would be refused anyway.
                raise ProviderUnavailable(f"provider {self.name!r}: {reason}; circuit opened") from error
            raise _FailedAttempt(number, reason) from error
        self.breaker.record_success()
        self._observe("ok")
        return result
