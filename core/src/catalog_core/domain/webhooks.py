"""Webhooks: the event types a subscription may ask for, delivery states, secrets and the views operators see.

Shared by the product API (subscriptions managed by admins, deliveries listed and redelivered) and the webhooks
service (deliveries made, attempted and recorded): the rows in the catalog database are the source of truth for
both, as for import jobs.
"""

import base64
import json
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

SECRET_PREFIX = "whsec_"  # noqa: S105 - the form of a secret, not one
SECRET_BYTES = 32
TEST_EVENT = "webhook.test"  # sent on request to one subscription only; never subscribed to


class WebhookEventType(StrEnum):
    IMPORT_COMPLETED = "import.completed"  # COMPLETED or COMPLETED_WITH_ERRORS (the payload's counts say which)
    IMPORT_FAILED = "import.failed"
    PRODUCT_ENRICHMENT_DEGRADED = "product.enrichment_degraded"


EVENT_TYPES = tuple(t.value for t in WebhookEventType)


class DeliveryState(StrEnum):
    PENDING = "pending"  # due at `next_attempt_at` (now, or after a backoff)
    DELIVERED = "delivered"  # a 2xx answer
    FAILED = "failed"  # every attempt of the schedule failed; an operator may redeliver


class SubscriptionNotFound(LookupError):
    def __init__(self, subscription_id: uuid.UUID) -> None:
        super().__init__(f"no webhook subscription with id {subscription_id}")


class DeliveryNotFound(LookupError):
    def __init__(self, delivery_id: uuid.UUID) -> None:
        super().__init__(f"no webhook delivery with id {delivery_id}")


def new_secret() -> str:
    """A signing secret in the Standard Webhooks form: `whsec_` + base64 of 32 random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def secret_key(secret: str) -> bytes:
    """The HMAC key a secret stands for: the bytes after the prefix, base64-decoded."""
    return base64.b64decode(secret.removeprefix(SECRET_PREFIX), validate=True)


def webhook_body(event_type: str, occurred_at: datetime, data: dict[str, Any]) -> str:
    """The payload a subscriber receives, as Standard Webhooks shapes it: `{"type", "timestamp", "data"}`, compact
    JSON (stored as these exact bytes, which are signed and sent on every attempt)."""
    return json.dumps({"type": event_type, "timestamp": occurred_at.isoformat(), "data": data}, separators=(",", ":"))


@dataclass(frozen=True)
class Subscription:
    id: uuid.UUID
    url: str
    event_types: tuple[str, ...]
    description: str | None
    active: bool
    created_by: str | None
    created_at: datetime
    updated_at: datetime

    def view(self) -> dict[str, Any]:
        """The subscription as an admin sees it: never its secret (shown once, when made or rotated)."""
        return {
            "id": str(self.id),
            "url": self.url,
            "event_types": list(self.event_types),
            "description": self.description,
            "active": self.active,
            "created_by": self.created_by,
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
            "deliveries_url": f"/admin/webhooks/{self.id}/deliveries",
        }


@dataclass(frozen=True)
class Attempt:
    number: int
    started_at: datetime
    status_code: int | None  # the receiver's HTTP status; None when no answer came
    error: str | None  # why it failed, coarse (`http_500`, `timeout`, `unreachable`, `blocked_address`)
    response_ms: int

    def view(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "at": self.started_at.isoformat(),
            "status_code": self.status_code,
            "error": self.error,
            "response_ms": self.response_ms,
        }


@dataclass(frozen=True)
class Delivery:
    id: uuid.UUID
    subscription_id: uuid.UUID
    event_id: str  # also the `webhook-id` header: the same on every attempt and redelivery
    event_type: str
    state: DeliveryState
    attempts: int  # every attempt ever made
    round_attempts: int  # attempts since it was (re)scheduled: what the backoff schedule counts
    next_attempt_at: datetime | None
    last_status: int | None
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None
    attempt_log: tuple[Attempt, ...] = ()

    def view(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "subscription_id": str(self.subscription_id),
            "webhook_id": self.event_id,
            "event_type": self.event_type,
            "state": self.state,
            "attempt_count": self.attempts,
            "next_attempt_at": self.next_attempt_at.isoformat()
            if self.next_attempt_at and self.state is DeliveryState.PENDING
            else None,
            "last_status": self.last_status,
            "last_error": self.last_error,
            "created_at": self.created_at.isoformat(),
            "delivered_at": self.delivered_at.isoformat() if self.delivered_at else None,
            "attempts": [a.view() for a in self.attempt_log],
            "redeliver_url": f"/admin/webhooks/deliveries/{self.id}/redeliver",
        }
