"""Webhook subscriptions as admins manage them, and their deliveries as operators inspect and redeliver them.

Every method works in the caller's session (one transaction per request, or per console action): the HTTP routes
under `/admin/webhooks` and the console's Webhooks page call the same functions. The webhooks service makes,
sends and records the deliveries.
"""

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy.orm import Session

from catalog_core.adapters.webhooks import WebhookRepository
from catalog_core.domain.model import new_id
from catalog_core.domain.webhooks import (
    TEST_EVENT,
    Delivery,
    DeliveryState,
    Subscription,
    new_secret,
    webhook_body,
)
from catalog_kit.outbound_policy import OutboundPolicy, OutboundRefused

MAX_URL_LENGTH = 2000


class WebhookUrlRefused(ValueError):
    """The URL is not one the platform may send to (scheme, credentials, an internal address, a port)."""


def check_url(policy: OutboundPolicy, url: str) -> str:
    """The URL if the outbound policy lets deliveries go there. Only what the URL itself says is checked here;
    the addresses a host name resolves to are checked on every connection, by the dispatcher's client."""
    if len(url) > MAX_URL_LENGTH:
        raise WebhookUrlRefused(f"longer than {MAX_URL_LENGTH} characters")
    try:
        policy.check_url(url)
    except OutboundRefused as exc:
        # The rule is enough to fix the URL; no address detail beyond what the caller sent.
        raise WebhookUrlRefused(f"refused by the outbound policy ({exc.rule.replace('_', ' ')})") from exc
    return url


class WebhookAdmin:
    """What an admin can ask of webhooks, inside the caller's transaction."""

    def __init__(self, session: Session, policy: OutboundPolicy) -> None:
        self.session = session
        self.repository = WebhookRepository(session)
        self.policy = policy

    def create(
        self, *, url: str, event_types: Sequence[str], description: str | None, created_by: str | None
    ) -> tuple[Subscription, str]:
        """A new active subscription and its signing secret (shown this once)."""
        secret = new_secret()
        subscription = self.repository.add_subscription(
            url=check_url(self.policy, url),
            event_types=_unique(event_types),
            secret=secret,
            description=description,
            created_by=created_by,
        )
        return subscription, secret

    def subscriptions(self, *, after: uuid.UUID | None = None, limit: int = 50) -> list[Subscription]:
        return self.repository.subscriptions(after=after, limit=limit)

    def subscription(self, subscription_id: uuid.UUID) -> Subscription:
        return self.repository.subscription(subscription_id)

    def update(
        self,
        subscription_id: uuid.UUID,
        *,
        url: str | None = None,
        event_types: Sequence[str] | None = None,
        description: str | None = None,
        active: bool | None = None,
        clear_description: bool = False,
    ) -> Subscription:
        values: dict[str, object] = {}
        if url is not None:
            values["url"] = check_url(self.policy, url)
        if event_types is not None:
            values["event_types"] = _unique(event_types)
        if description is not None or clear_description:
            values["description"] = description
        if active is not None:
            values["active"] = active
        if not values:
            return self.repository.subscription(subscription_id)
        return self.repository.update_subscription(subscription_id, **values)

    def rotate_secret(self, subscription_id: uuid.UUID) -> tuple[Subscription, str]:
        """A new secret (shown this once); every attempt from now on is signed with it."""
        secret = new_secret()
        return self.repository.update_subscription(subscription_id, secret=secret), secret

    def delete(self, subscription_id: uuid.UUID) -> None:
        self.repository.delete_subscription(subscription_id)

    def deliveries(
        self, subscription_id: uuid.UUID, *, before: uuid.UUID | None = None, limit: int = 50
    ) -> list[Delivery]:
        """Newest first, each with its attempts."""
        return self.repository.deliveries(subscription_id, before=before, limit=limit)

    def delivery_counts(self, subscription_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, dict[DeliveryState, int]]:
        """Per subscription, how many of its deliveries are in each state."""
        return self.repository.delivery_counts(subscription_ids)

    def unfinished(self) -> dict[DeliveryState, int]:
        """Deliveries pending and failed over every subscription."""
        return self.repository.unfinished()

    def redeliver(self, delivery_id: uuid.UUID) -> Delivery:
        """Send again now, with a fresh schedule: the same body and `webhook-id`, so receivers can tell."""
        return self.repository.redeliver(delivery_id)

    def send_test(self, subscription_id: uuid.UUID) -> Delivery:
        """A `webhook.test` delivery to this subscription alone, due now."""
        self.repository.subscription(subscription_id)
        event_id = str(new_id())
        data = {"subscription_id": str(subscription_id), "message": "a test delivery, sent on request"}
        body = webhook_body(TEST_EVENT, datetime.now(UTC), data)
        return self.repository.add_delivery(subscription_id, event_id=event_id, event_type=TEST_EVENT, body=body)


def _unique(event_types: Sequence[str]) -> list[str]:
    return sorted(set(event_types))
