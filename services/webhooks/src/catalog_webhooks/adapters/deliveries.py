"""Deliveries in the catalog database, as the dispatcher uses them: fan-out, claims, attempts.

A claim is one UPDATE over rows picked with `FOR UPDATE SKIP LOCKED`: two dispatchers never pick the same row,
and the claimed rows' `next_attempt_at` moves a lease ahead, so a dispatcher killed mid-send leaves its deliveries
due again when the lease ends (sent again: at least once). Every result is recorded under the claim's token: a
delivery redelivered or claimed anew meanwhile keeps its new round.
"""

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session, sessionmaker

from catalog_core.adapters.webhooks import (
    WebhookRepository,
    webhook_attempts,
    webhook_deliveries,
    webhook_subscriptions,
)
from catalog_core.domain.model import new_id
from catalog_core.domain.webhooks import DeliveryState
from catalog_webhooks.domain.events import WebhookEvent


@dataclass(frozen=True)
class ClaimedDelivery:
    id: uuid.UUID
    subscription_id: uuid.UUID
    event_id: str
    event_type: str
    body: str
    round_attempts: int  # before this attempt
    url: str
    secret: str
    token: uuid.UUID


@dataclass(frozen=True)
class AttemptResult:
    started_at: datetime
    status_code: int | None
    error: str | None  # None: delivered
    response_ms: int

    @property
    def delivered(self) -> bool:
        return self.error is None


class DeliveryStore:
    """Each method is one short transaction of its own."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions

    def fan_out(self, events: Sequence[WebhookEvent]) -> int:
        """One pending delivery per event and active subscription of its type created before the event happened
        (a new subscription is not sent history); an event seen again adds nothing. Returns how many were added."""
        if not events:
            return 0
        with self.sessions() as session, session.begin():
            subscriptions = session.execute(
                select(
                    webhook_subscriptions.c.id, webhook_subscriptions.c.event_types, webhook_subscriptions.c.created_at
                ).where(webhook_subscriptions.c.active.is_(True))
            ).all()
            rows = [
                {
                    "id": new_id(),
                    "subscription_id": s.id,
                    "event_id": event.event_id,
                    "event_type": event.type,
                    "body": event.body,
                    "state": DeliveryState.PENDING.value,
                    "next_attempt_at": func.now(),
                }
                for event in events
                for s in subscriptions
                if event.type in s.event_types and s.created_at <= event.occurred_at
            ]
            if not rows:
                return 0
            added = session.execute(
                pg_insert(webhook_deliveries)
                .values(rows)
                .on_conflict_do_nothing(index_elements=["subscription_id", "event_id"])
                .returning(webhook_deliveries.c.id)
            ).all()
            return len(added)

    def claim_due(self, limit: int, lease: timedelta) -> list[ClaimedDelivery]:
        """Up to `limit` due deliveries of active subscriptions, oldest due first, leased to this caller."""
        token = uuid.uuid4()
        due = (
            select(webhook_deliveries.c.id)
            .where(
                webhook_deliveries.c.state == DeliveryState.PENDING.value,
                webhook_deliveries.c.next_attempt_at <= func.now(),
                webhook_deliveries.c.subscription_id.in_(
                    select(webhook_subscriptions.c.id).where(webhook_subscriptions.c.active.is_(True))
                ),
            )
            .order_by(webhook_deliveries.c.next_attempt_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        with self.sessions() as session, session.begin():
            claimed = session.execute(
                update(webhook_deliveries)
                .where(webhook_deliveries.c.id.in_(due.scalar_subquery()))
                .where(webhook_deliveries.c.subscription_id == webhook_subscriptions.c.id)
                .values(claim_token=token, next_attempt_at=func.now() + lease, updated_at=func.now())
                .returning(
                    webhook_deliveries.c.id,
                    webhook_deliveries.c.subscription_id,
                    webhook_deliveries.c.event_id,
                    webhook_deliveries.c.event_type,
                    webhook_deliveries.c.body,
                    webhook_deliveries.c.round_attempts,
                    webhook_subscriptions.c.url,
                    webhook_subscriptions.c.secret,
                )
            ).all()
        return [
            ClaimedDelivery(
                r.id, r.subscription_id, r.event_id, r.event_type, r.body, r.round_attempts, r.url, r.secret, token
            )
            for r in claimed
        ]

    def prune(self, older_than: timedelta, chunk: int = 1000) -> int:
        """Delete finished deliveries (and their attempts) last changed more than `older_than` ago, a chunk per
        transaction; pending ones stay whatever their age. Returns how many went."""
        removed = 0
        while True:
            with self.sessions() as session, session.begin():
                old = (
                    select(webhook_deliveries.c.id)
                    .where(
                        webhook_deliveries.c.state != DeliveryState.PENDING.value,
                        webhook_deliveries.c.updated_at < func.now() - older_than,
                    )
                    .limit(chunk)
                    .with_for_update(skip_locked=True)
                )
                gone = session.execute(
                    delete(webhook_deliveries)
                    .where(webhook_deliveries.c.id.in_(old.scalar_subquery()))
                    .returning(webhook_deliveries.c.id)
                ).all()
            removed += len(gone)
            if len(gone) < chunk:
                return removed

    def unfinished(self) -> dict[DeliveryState, int]:
        """Deliveries pending and failed, over every subscription."""
        with self.sessions() as session:
            return WebhookRepository(session).unfinished()

    def record(self, claimed: ClaimedDelivery, result: AttemptResult, retry_in_s: float | None) -> bool:
        """The attempt, and what it leaves the delivery in: delivered, due again in `retry_in_s`, or failed (None).
        False when the delivery was no longer this claim's (redelivered meanwhile): only the attempt is kept."""
        return self.record_many([Outcome(claimed, result, retry_in_s)])[0]

    def record_many(self, outcomes: Sequence["Outcome"]) -> list[bool]:
        """`record` for a batch's attempts, in one transaction (one commit per batch, not per delivery)."""
        with self.sessions() as session, session.begin():
            return [_record(session, o.claimed, o.result, o.retry_in_s) for o in outcomes]


@dataclass(frozen=True)
class Outcome:
    claimed: ClaimedDelivery
    result: AttemptResult
    retry_in_s: float | None  # None after a failure: the schedule ran out


def _record(session: Session, claimed: ClaimedDelivery, result: AttemptResult, retry_in_s: float | None) -> bool:
    if result.delivered:
        state, next_at = DeliveryState.DELIVERED, None
    elif retry_in_s is None:
        state, next_at = DeliveryState.FAILED, None
    else:
        state, next_at = DeliveryState.PENDING, func.now() + timedelta(seconds=retry_in_s)
    number, token = session.execute(
        update(webhook_deliveries)
        .where(webhook_deliveries.c.id == claimed.id)
        .values(attempts=webhook_deliveries.c.attempts + 1)
        .returning(webhook_deliveries.c.attempts, webhook_deliveries.c.claim_token)
    ).one()
    session.execute(
        insert(webhook_attempts).values(
            delivery_id=claimed.id,
            number=number,
            started_at=result.started_at,
            status_code=result.status_code,
            error=result.error,
            response_ms=result.response_ms,
        )
    )
    if token != claimed.token:
        return False
    session.execute(
        update(webhook_deliveries)
        .where(webhook_deliveries.c.id == claimed.id)
        .values(
            state=state.value,
            round_attempts=webhook_deliveries.c.round_attempts + 1,
            next_attempt_at=next_at,
            claim_token=None,
            last_status=result.status_code,
            last_error=result.error,
            delivered_at=func.now() if result.delivered else None,
            updated_at=func.now(),
        )
    )
    return True
