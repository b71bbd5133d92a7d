"""Webhook subscriptions, deliveries and attempts in PostgreSQL: the tables (migration 0004) and what the product
API reads and changes of them. The webhooks service claims and records deliveries with its own adapter over the
same tables (`catalog_webhooks.adapters`), as the importer does with import jobs."""

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import (
    ARRAY,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Integer,
    MetaData,
    Row,
    Table,
    Text,
    delete,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Session

from catalog_core.domain.model import new_id
from catalog_core.domain.webhooks import (
    Attempt,
    Delivery,
    DeliveryNotFound,
    DeliveryState,
    Subscription,
    SubscriptionNotFound,
)

metadata = MetaData()

webhook_subscriptions = Table(
    "webhook_subscriptions",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("url", Text, nullable=False),
    Column("event_types", ARRAY(Text), nullable=False),
    Column("secret", Text, nullable=False),
    Column("description", Text),
    Column("active", Boolean, nullable=False, server_default="true"),
    Column("created_by", Text),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("subscription_id", UUID(as_uuid=True), ForeignKey(webhook_subscriptions.c.id), nullable=False),
    Column("event_id", Text, nullable=False),
    Column("event_type", Text, nullable=False),
    Column("body", Text, nullable=False),
    Column("state", Text, nullable=False),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("round_attempts", Integer, nullable=False, server_default="0"),
    Column("next_attempt_at", DateTime(timezone=True)),
    Column("claim_token", UUID(as_uuid=True)),
    Column("last_status", Integer),
    Column("last_error", Text),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("delivered_at", DateTime(timezone=True)),
)

webhook_attempts = Table(
    "webhook_attempts",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("delivery_id", UUID(as_uuid=True), ForeignKey(webhook_deliveries.c.id), nullable=False),
    Column("number", Integer, nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("status_code", Integer),
    Column("error", Text),
    Column("response_ms", Integer, nullable=False),
)


def subscription_from_row(row: Row[Any]) -> Subscription:
    return Subscription(
        id=row.id,
        url=row.url,
        event_types=tuple(row.event_types),
        description=row.description,
        active=row.active,
        created_by=row.created_by,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def delivery_from_row(row: Row[Any], attempts: Sequence[Attempt] = ()) -> Delivery:
    return Delivery(
        id=row.id,
        subscription_id=row.subscription_id,
        event_id=row.event_id,
        event_type=row.event_type,
        state=DeliveryState(row.state),
        attempts=row.attempts,
        round_attempts=row.round_attempts,
        next_attempt_at=row.next_attempt_at,
        last_status=row.last_status,
        last_error=row.last_error,
        created_at=row.created_at,
        delivered_at=row.delivered_at,
        attempt_log=tuple(attempts),
    )


_SUBSCRIPTION_COLUMNS = [c for c in webhook_subscriptions.c if c.name != "secret"]


class WebhookRepository:
    """Subscriptions and deliveries inside the caller's transaction."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def add_subscription(
        self, *, url: str, event_types: Sequence[str], secret: str, description: str | None, created_by: str | None
    ) -> Subscription:
        row = self.session.execute(
            insert(webhook_subscriptions)
            .values(
                id=new_id(),
                url=url,
                event_types=list(event_types),
                secret=secret,
                description=description,
                created_by=created_by,
            )
            .returning(*_SUBSCRIPTION_COLUMNS)
        ).one()
        return subscription_from_row(row)

    def subscription(self, subscription_id: uuid.UUID) -> Subscription:
        row = self.session.execute(
            select(*_SUBSCRIPTION_COLUMNS).where(webhook_subscriptions.c.id == subscription_id)
        ).one_or_none()
        if row is None:
            raise SubscriptionNotFound(subscription_id)
        return subscription_from_row(row)

    def subscriptions(self, *, after: uuid.UUID | None, limit: int) -> list[Subscription]:
        """Oldest first, starting after the cursor's id."""
        query = select(*_SUBSCRIPTION_COLUMNS).order_by(webhook_subscriptions.c.id).limit(limit)
        if after is not None:
            query = query.where(webhook_subscriptions.c.id > after)
        return [subscription_from_row(row) for row in self.session.execute(query)]

    def update_subscription(self, subscription_id: uuid.UUID, **values: Any) -> Subscription:
        row = self.session.execute(
            update(webhook_subscriptions)
            .where(webhook_subscriptions.c.id == subscription_id)
            .values(**values, updated_at=func.now())
            .returning(*_SUBSCRIPTION_COLUMNS)
        ).one_or_none()
        if row is None:
            raise SubscriptionNotFound(subscription_id)
        return subscription_from_row(row)

    def delete_subscription(self, subscription_id: uuid.UUID) -> None:
        """The subscription and its delivery history (the foreign keys cascade)."""
        found = self.session.execute(
            delete(webhook_subscriptions)
            .where(webhook_subscriptions.c.id == subscription_id)
            .returning(webhook_subscriptions.c.id)
        ).first()
        if found is None:
            raise SubscriptionNotFound(subscription_id)

    def add_delivery(self, subscription_id: uuid.UUID, *, event_id: str, event_type: str, body: str) -> Delivery:
        """One delivery due now (a test event); the dispatcher's fan-out inserts its own in bulk."""
        row = self.session.execute(
            insert(webhook_deliveries)
            .values(
                id=new_id(),
                subscription_id=subscription_id,
                event_id=event_id,
                event_type=event_type,
                body=body,
                state=DeliveryState.PENDING,
                next_attempt_at=func.now(),
            )
            .returning(webhook_deliveries)
        ).one()
        return delivery_from_row(row)

    def deliveries(self, subscription_id: uuid.UUID, *, before: uuid.UUID | None, limit: int) -> list[Delivery]:
        """A subscription's deliveries, newest first (ids are time-ordered), each with its attempts in order."""
        self.subscription(subscription_id)  # unknown subscription: not found, not an empty page
        query = (
            select(webhook_deliveries)
            .where(webhook_deliveries.c.subscription_id == subscription_id)
            .order_by(webhook_deliveries.c.id.desc())
            .limit(limit)
        )
        if before is not None:
            query = query.where(webhook_deliveries.c.id < before)
        rows = list(self.session.execute(query))
        attempts = self._attempts([row.id for row in rows])
        return [delivery_from_row(row, attempts.get(row.id, [])) for row in rows]

    def delivery(self, delivery_id: uuid.UUID) -> Delivery:
        row = self.session.execute(
            select(webhook_deliveries).where(webhook_deliveries.c.id == delivery_id)
        ).one_or_none()
        if row is None:
            raise DeliveryNotFound(delivery_id)
        return delivery_from_row(row, self._attempts([delivery_id]).get(delivery_id, []))

    def redeliver(self, delivery_id: uuid.UUID) -> Delivery:
        """Due again now with a fresh backoff schedule, whatever its state; the same body and `webhook-id`."""
        row = self.session.execute(
            update(webhook_deliveries)
            .where(webhook_deliveries.c.id == delivery_id)
            .values(
                state=DeliveryState.PENDING,
                round_attempts=0,
                next_attempt_at=func.now(),
                claim_token=None,  # a send in flight can no longer record over this round
                updated_at=func.now(),
            )
            .returning(webhook_deliveries)
        ).one_or_none()
        if row is None:
            raise DeliveryNotFound(delivery_id)
        return delivery_from_row(row, self._attempts([delivery_id]).get(delivery_id, []))

    def delivery_counts(self, subscription_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, dict[DeliveryState, int]]:
        """How many deliveries of each subscription are in each state (states without any are left out)."""
        if not subscription_ids:
            return {}
        rows = self.session.execute(
            select(webhook_deliveries.c.subscription_id, webhook_deliveries.c.state, func.count())
            .where(webhook_deliveries.c.subscription_id.in_(subscription_ids))
            .group_by(webhook_deliveries.c.subscription_id, webhook_deliveries.c.state)
        )
        counts: dict[uuid.UUID, dict[DeliveryState, int]] = {}
        for subscription_id, state, count in rows:
            counts.setdefault(subscription_id, {})[DeliveryState(state)] = count
        return counts

    def unfinished(self) -> dict[DeliveryState, int]:
        """Deliveries pending and failed, over every subscription: what still waits, and what ran out of attempts."""
        rows = self.session.execute(
            select(webhook_deliveries.c.state, func.count())
            .where(webhook_deliveries.c.state.in_([DeliveryState.PENDING, DeliveryState.FAILED]))
            .group_by(webhook_deliveries.c.state)
        )
        found = {DeliveryState(state): count for state, count in rows}
        return {state: found.get(state, 0) for state in (DeliveryState.PENDING, DeliveryState.FAILED)}

    def _attempts(self, delivery_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, list[Attempt]]:
        if not delivery_ids:
            return {}
        rows = self.session.execute(
            select(webhook_attempts)
            .where(webhook_attempts.c.delivery_id.in_(delivery_ids))
            .order_by(webhook_attempts.c.delivery_id, webhook_attempts.c.number)
        )
        found: dict[uuid.UUID, list[Attempt]] = {}
        for row in rows:
            found.setdefault(row.delivery_id, []).append(
                Attempt(row.number, row.started_at, row.status_code, row.error, row.response_ms)
            )
        return found
