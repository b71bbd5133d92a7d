"""The delivery loop: claim due deliveries, sign and POST each, record the attempt and what comes next.

A receiver's failure (an answer but 2xx, no answer, a refused address) uses up one attempt of the schedule; an
outage of our own database does not: the claim or the record is simply not made, and the delivery waits.
"""

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol

import stamina

from catalog_kit.outages import is_database_outage
from catalog_webhooks.adapters.deliveries import AttemptResult, ClaimedDelivery, Outcome
from catalog_webhooks.domain.backoff import RetrySchedule
from catalog_webhooks.domain.signing import signed_headers

log = logging.getLogger("catalog_webhooks.dispatch")


class DueDeliveries(Protocol):
    def claim_due(self, limit: int, lease: timedelta) -> list[ClaimedDelivery]: ...

    def record_many(self, outcomes: Sequence[Outcome]) -> list[bool]: ...


class Sender(Protocol):
    def post(self, url: str, headers: dict[str, str], body: bytes) -> AttemptResult: ...


class AttemptObserver(Protocol):
    def attempted(self, outcomes: Sequence[Outcome]) -> None: ...


@dataclass
class DeliveryLoop:
    deliveries: DueDeliveries
    sender: Sender
    schedule: RetrySchedule
    batch: int = 20
    lease: timedelta = timedelta(seconds=60)
    observer: AttemptObserver | None = None  # metrics: every attempt made, recorded or not
    _outage: bool = False

    async def run_due(self) -> int:
        """Send every delivery due now, a batch at a time (the sends of a batch at once); how many were sent."""
        sent = 0
        while True:
            try:
                claimed = await asyncio.to_thread(self.deliveries.claim_due, self.batch, self.lease)
            except Exception as exc:
                if not is_database_outage(exc):
                    raise
                if not self._outage:  # one line per outage, not one per poll
                    log.warning("database unavailable; deliveries wait", extra={"error": str(exc)[:300]})
                self._outage = True
                return sent
            if self._outage:
                log.info("database back; deliveries resume")
                self._outage = False
            if not claimed:
                return sent
            outcomes = await asyncio.gather(*(asyncio.to_thread(self._attempt, one) for one in claimed))
            if self.observer is not None:
                self.observer.attempted(outcomes)
            recorded = await asyncio.to_thread(self._record, outcomes)
            for outcome, kept in zip(outcomes, recorded, strict=True):
                _log(outcome, kept)
            sent += len(claimed)
            if len(claimed) < self.batch:
                return sent

    def _attempt(self, claimed: ClaimedDelivery) -> Outcome:
        body = claimed.body.encode()
        headers = signed_headers(claimed.secret, claimed.event_id, int(time.time()), body)
        result = self.sender.post(claimed.url, headers, body)
        retry_in = None if result.delivered else self.schedule.delay_after(claimed.round_attempts + 1)
        return Outcome(claimed, result, retry_in)

    def _record(self, outcomes: Sequence[Outcome]) -> Sequence[bool | None]:
        """Record the batch, waiting out a database outage until the lease nears its end; after that its
        deliveries are due again and sent again (at least once: receivers deduplicate on `webhook-id`)."""
        try:
            for attempt in stamina.retry_context(
                on=is_database_outage, attempts=None, timeout=self.lease.total_seconds() * 0.8, wait_max=2.0
            ):
                with attempt:
                    return self.deliveries.record_many(outcomes)
        except Exception as exc:
            if not is_database_outage(exc):
                raise
            log.warning(
                "attempts not recorded: the database stayed away; the deliveries are sent again when their lease ends",
                extra={"webhook_ids": [o.claimed.event_id for o in outcomes][:20]},
            )
        return [None] * len(outcomes)


def _log(outcome: Outcome, recorded: bool | None) -> None:
    claimed, result, retry_in = outcome.claimed, outcome.result, outcome.retry_in_s
    log.log(
        logging.INFO if result.delivered else logging.WARNING,
        "webhook delivered" if result.delivered else "webhook attempt failed",
        extra={
            "delivery_id": str(claimed.id),
            "subscription_id": str(claimed.subscription_id),
            "webhook_id": claimed.event_id,
            "event_type": claimed.event_type,
            "attempt": claimed.round_attempts + 1,
            "status_code": result.status_code,
            "error": result.error,
            "response_ms": result.response_ms,
            "retry_in_s": None if retry_in is None else round(retry_in, 1),
            "gave_up": not result.delivered and retry_in is None,
            "recorded": recorded,
        },
    )
