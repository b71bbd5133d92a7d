"""The `catalog-enricher` command: derives fields for every product change."""

from catalog_enricher.adapters.catalog_store import EnrichmentStore
from catalog_enricher.adapters.fault_injection import FaultyProvider
from catalog_enricher.adapters.provider import EnrichmentProvider, LocalProvider, ResilientProvider
from catalog_enricher.domain.taxonomy import Taxonomy
from catalog_enricher.service import Enricher
from catalog_enricher.settings import EnricherSettings
from catalog_kit.db import make_engine, make_session_factory
from catalog_kit.envelope import EventEnvelope
from catalog_kit.outbox import OutboxWriter
from catalog_schemas.topics import PRODUCT
from catalog_stream.processor import Processor


def build(settings: EnricherSettings) -> Processor:
    provider: EnrichmentProvider = LocalProvider()
    if settings.provider_delay_s or settings.provider_failure_rate:
        provider = FaultyProvider(provider, settings.provider_delay_s, settings.provider_failure_rate)
    enricher = Enricher(
        store=EnrichmentStore(
            make_session_factory(make_engine(settings.database_url, pool_size=2)),
            OutboxWriter("/catalog/enricher", settings.public_base_url),
        ),
        provider=ResilientProvider(
            provider,
            timeout_s=settings.provider_timeout_s,
            max_attempts=settings.provider_max_attempts,
            failure_threshold=settings.provider_failure_threshold,
            reset_after_s=settings.provider_reset_after_s,
        ),
        taxonomy=Taxonomy.default(),
    )
    processor = Processor("enricher", settings)

    async def handle(event: EventEnvelope) -> None:
        await enricher.handle(event)

    processor.agent(PRODUCT, handle)
    return processor


def main() -> None:
    build(EnricherSettings()).run()
