"""The webhooks service's composition root: picks the adapters for the settings and wires them into the service
layer."""

import asyncio
from datetime import timedelta

from catalog_kit.db import make_engine, make_session_factory
from catalog_kit.outages import is_database_outage
from catalog_kit.outbound import OutboundClient
from catalog_schemas.topics import IMPORT_OUTCOMES, PRODUCT
from catalog_stream.processor import Processor
from catalog_webhooks.adapters.deliveries import DeliveryStore
from catalog_webhooks.adapters.metrics import WebhookMetrics
from catalog_webhooks.adapters.sender import HttpSender
from catalog_webhooks.service_layer.dispatch import DeliveryLoop
from catalog_webhooks.service_layer.fan_out import WebhookFanOut
from catalog_webhooks.settings import WebhookSettings


def build(settings: WebhookSettings) -> Processor:
    """Import outcomes and enrichments become deliveries; a timer sends the due ones.

    The delivery loop, the pruning and the backlog sampling need only the database: they run from the start of the
    process, whether or not the broker is reachable (the fan-out waits for it)."""
    store = DeliveryStore(
        make_session_factory(make_engine(settings.database_url, pool_size=settings.webhook_batch + 2))
    )
    # Subscribers' URLs are given by admins: reached only under the outbound policy (OUTBOUND_ALLOW), no redirects
    # for POST.
    sender = HttpSender(
        OutboundClient(
            settings.outbound_policy(),
            timeout_s=settings.webhook_timeout_s,
            headers={"User-Agent": "catalog-webhooks/1"},
            max_connections=settings.webhook_batch,
        ),
        settings.webhook_deadline_s,
    )
    metrics = WebhookMetrics()
    loop = DeliveryLoop(
        store,
        sender,
        settings.retry_schedule(),
        batch=settings.webhook_batch,
        lease=timedelta(seconds=settings.webhook_lease_s),
        observer=metrics,
    )
    fan_out = WebhookFanOut(store)
    processor = Processor("webhooks", settings)
    processor.batch_agent(IMPORT_OUTCOMES, fan_out.events)
    processor.batch_agent(PRODUCT, fan_out.events)  # product.enriched that degraded
    processor.timer(settings.webhook_poll_interval_s, needs_broker=False)(loop.run_due)
    retention = timedelta(days=settings.webhook_retention_days)

    async def prune() -> None:
        await asyncio.to_thread(store.prune, retention)

    async def sample_backlog() -> None:
        try:
            metrics.unfinished(await asyncio.to_thread(store.unfinished))
        except Exception as exc:
            if not is_database_outage(exc):
                raise
            # The delivery loop already says the database is away; the gauges keep their last sample.

    processor.timer(settings.webhook_prune_interval_s, needs_broker=False)(prune)
    processor.timer(settings.webhook_metrics_interval_s, needs_broker=False)(sample_backlog)
    # The client is not closed on shutdown: attempts still in flight finish (and are recorded) as the process exits.
    return processor
