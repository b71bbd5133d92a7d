"""Consumed events become pending deliveries: one per matching subscription, never two for the same event."""

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from jsonschema import ValidationError

from catalog_kit.envelope import EventEnvelope
from catalog_schemas import validate_event
from catalog_stream.processor import PermanentFailure
from catalog_webhooks.domain.events import IMPORT_OUTCOMES, WebhookEvent, webhook_event

log = logging.getLogger("catalog_webhooks.fan_out")


class Deliveries(Protocol):
    def fan_out(self, events: Sequence[WebhookEvent]) -> int: ...


@dataclass
class WebhookFanOut:
    deliveries: Deliveries

    async def events(self, events: Sequence[EventEnvelope]) -> None:
        """A partition's batch: the webhooks it makes, stored in one transaction (at least once is safe: a
        delivery is unique per subscription and event)."""
        webhooks = []
        for event in events:
            if event.type in IMPORT_OUTCOMES:
                _check(event)
            made = webhook_event(event)
            if made is not None:
                webhooks.append(made)
        if not webhooks:
            return
        added = await asyncio.to_thread(self.deliveries.fan_out, webhooks)
        log.info(
            "webhook deliveries added",
            extra={"events": len(webhooks), "deliveries": added, "event_ids": [w.event_id for w in webhooks][:20]},
        )


def _check(event: EventEnvelope) -> None:
    try:
        validate_event(event.type, event.data)
    except ValidationError as exc:
        raise PermanentFailure(f"{event.type} breaks its contract: {exc.message}") from exc
