"""The enricher's composition root: picks the adapters for the settings and wires them into the service layer."""

from collections.abc import Sequence

from catalog_enricher.adapters.catalog_store import EnrichmentStore, SaveOutcome
from catalog_enricher.adapters.fault_injection import FaultyProvider
from catalog_enricher.adapters.metrics import EnrichmentMetrics
from catalog_enricher.adapters.pipeline_gaps import PipelineGaps
from catalog_enricher.adapters.provider import EnrichmentProvider, LocalProvider, ResilientProvider
from catalog_enricher.domain.taxonomy import Taxonomy
from catalog_enricher.service_layer.enrichment import Enricher
from catalog_enricher.service_layer.reconciliation import Reconciler
from catalog_enricher.settings import EnricherSettings
from catalog_kit.db import make_engine, make_session_factory
from catalog_kit.envelope import EventEnvelope
from catalog_kit.outbox import OutboxWriter
from catalog_schemas import Lane
from catalog_schemas.topics import PRODUCT
from catalog_stream.processor import Processor

SOURCE = "/catalog/enricher"


def provider(settings: EnricherSettings) -> ResilientProvider:
    """The local provider, with injected faults when the settings ask for them, behind timeout, retries, breaker."""
    inner: EnrichmentProvider = LocalProvider()
    if settings.provider_delay_s or settings.provider_failure_rate:
        inner = FaultyProvider(inner, settings.provider_delay_s, settings.provider_failure_rate)
    return ResilientProvider(
        inner,
        timeout_s=settings.provider_timeout_s,
        max_attempts=settings.provider_max_attempts,
        failure_threshold=settings.provider_failure_threshold,
        reset_after_s=settings.provider_reset_after_s,
    )


def build(settings: EnricherSettings) -> Processor:
    """The enricher's stream processor: product events, a partition's batch at a time, go to
    `Enricher.handle_batch`."""
    sessions = make_session_factory(make_engine(settings.database_url, pool_size=2))
    outbox = OutboxWriter(SOURCE, settings.public_base_url)
    resilient = provider(settings)
    enricher = Enricher(store=EnrichmentStore(sessions, outbox), provider=resilient, taxonomy=Taxonomy.default())
    processor = Processor("enricher", settings)
    metrics = EnrichmentMetrics()
    metrics.watch_breaker(resilient.name, resilient.breaker)

    async def enrich_batch(events: Sequence[EventEnvelope]) -> list[SaveOutcome]:
        outcomes = await enricher.handle_batch(events)
        metrics.enriched(outcomes)
        return outcomes

    processor.batch_agent(PRODUCT, enrich_batch)
    if settings.reconcile_interval_s > 0:
        backfill = OutboxWriter(SOURCE, settings.public_base_url, lane=Lane.BULK)  # re-announcements are bulk work
        reconciler = Reconciler(
            PipelineGaps(sessions, backfill),
            settings.reconcile_after_s,
            settings.reconcile_batch,
            busy=lambda: processor.health.lane_lag(Lane.BULK) > settings.reconcile_batch,
        )
        processor.timer(settings.reconcile_interval_s)(reconciler.tick)
    return processor
