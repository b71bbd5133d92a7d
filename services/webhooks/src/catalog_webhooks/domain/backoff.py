"""When a failed delivery is tried again: exponential backoff with jitter, over a bounded schedule."""

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class RetrySchedule:
    """Attempt n (1-based) failed: the next comes after about `base_s * 2**(n-1)`, at most `cap_s`, with up to
    `jitter` of it taken off at random, so receivers that come back are not hit by every delivery at once.
    After `max_attempts` attempts the delivery has failed."""

    max_attempts: int = 8
    base_s: float = 60.0
    cap_s: float = 3600.0
    jitter: float = 0.2

    def delay_after(self, attempt: int, rand: random.Random | None = None) -> float | None:
        """Seconds to wait after failed attempt number `attempt`; None: give up."""
        if attempt >= self.max_attempts:
            return None
        nominal = min(self.cap_s, self.base_s * 2.0 ** (attempt - 1))
        fraction = (rand or _random).random() * self.jitter
        return float(nominal * (1 - fraction))

    def longest_total_s(self) -> float:
        """The longest the whole schedule can take (no jitter), first attempt to last."""
        return sum(min(self.cap_s, self.base_s * 2.0 ** (n - 1)) for n in range(1, self.max_attempts))


_random = random.SystemRandom()
