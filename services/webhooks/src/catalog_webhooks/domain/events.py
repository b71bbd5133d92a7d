"""Which platform events become which webhooks, and the JSON body a subscriber receives."""

from dataclasses import dataclass
from datetime import datetime

from catalog_core.domain.webhooks import WebhookEventType, webhook_body
from catalog_kit.envelope import EventEnvelope

IMPORT_OUTCOMES = frozenset({WebhookEventType.IMPORT_COMPLETED.value, WebhookEventType.IMPORT_FAILED.value})
ENRICHED = "product.enriched"


@dataclass(frozen=True)
class WebhookEvent:
    """One webhook to fan out to the subscriptions of its type."""

    event_id: str  # the platform event's id: the `webhook-id` of every delivery made of it
    type: str
    occurred_at: datetime
    body: str  # exactly what is signed and sent


def webhook_event(event: EventEnvelope) -> WebhookEvent | None:
    """The webhook a platform event makes, if any: import outcomes as they are; a `product.enriched` that says a
    part degraded as `product.enrichment_degraded` (the product, its version and what degraded)."""
    if event.type in IMPORT_OUTCOMES:
        return WebhookEvent(event.id, event.type, event.time, webhook_body(event.type, event.time, dict(event.data)))
    if event.type == ENRICHED and event.data.get("degraded"):
        kind = WebhookEventType.PRODUCT_ENRICHMENT_DEGRADED.value
        data = {
            "product_id": event.data["id"],
            "version": event.data["version"],
            "degraded": list(event.data["degraded"]),
            "reason": "provider_unavailable",
        }
        return WebhookEvent(event.id, kind, event.time, webhook_body(kind, event.time, data))
    return None
