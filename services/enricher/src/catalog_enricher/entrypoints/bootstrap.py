"""The enricher's composition root: picks the adapters for the settings and wires them into the service layer."""

import asyncio
import logging
from collections.abc import Awaitable, Callable

from pyrate_limiter import Duration, Limiter, Rate, StateBucket, TokenBucket

from catalog_core.adapters import schedule_metrics
from catalog_core.adapters.schedules import ScheduleStore
from catalog_core.domain.schedules import every
from catalog_core.service_layer.scheduler import Outcome, RunResult, ScheduledJob, Scheduler
from catalog_enricher.adapters.catalog_store import EnrichmentStore
from catalog_enricher.adapters.fault_injection import FaultyProvider
from catalog_enricher.adapters.http_provider import HttpProvider
from catalog_enricher.adapters.metrics import EnrichmentMetrics
from catalog_enricher.adapters.pipeline_gaps import PipelineGaps
from catalog_enricher.adapters.provider import EnrichmentProvider, LocalProvider, ResilientProvider
from catalog_enricher.adapters.work_queue import EnrichmentQueue
from catalog_enricher.domain.priorities import Admission, Backpressure, Priority
from catalog_enricher.domain.rules import RULES_VERSION
from catalog_enricher.domain.taxonomy import Taxonomy
from catalog_enricher.service_layer.enrichment import LOOKUP_CONCURRENCY, Enricher
from catalog_enricher.service_layer.reconciliation import Reconciler
from catalog_enricher.service_layer.work import EnrichmentWork
from catalog_enricher.settings import EnricherSettings
from catalog_kit.db import make_engine, make_session_factory
from catalog_kit.outbound import OutboundClient
from catalog_kit.outbox import OutboxWriter
from catalog_schemas import Lane
from catalog_schemas.topics import ENRICHMENT_REQUESTS, PRODUCT
from catalog_stream.processor import Processor

SOURCE = "/catalog/enricher"
REFRESH = "enrichment.stale-refresh"
RECONCILE = "enrichment.reconcile"
log = logging.getLogger("catalog_enricher")


def provider(settings: EnricherSettings) -> ResilientProvider:
    """The HTTP provider when PROVIDER_URL names one (rate-limited, under the outbound policy), else the local one;
    with injected faults when the settings ask for them; behind timeout, retries, breaker."""
    inner: EnrichmentProvider
    permit: Callable[[], Awaitable[object]] | None = None
    if settings.provider_url:
        # One bucket per process, shared by every concurrent lookup; the rate is per process (docs).
        bucket = Limiter(
            StateBucket([Rate(settings.provider_rate_per_s, Duration.SECOND, settings.provider_burst)], TokenBucket())
        )

        async def take_permit() -> bool:
            return await bucket.try_acquire_async("provider")

        permit = take_permit
        client = OutboundClient(
            settings.outbound_policy(),
            timeout_s=settings.provider_timeout_s,
            headers={"User-Agent": "catalog-enricher/1"},
            max_connections=LOOKUP_CONCURRENCY,
        )
        # The call's own deadline outlasts PROVIDER_TIMEOUT_S: the timeout around the lookup decides, and the
        # request thread it leaves behind ends soon after.
        inner = HttpProvider(client, settings.provider_url, deadline_s=2 * settings.provider_timeout_s)
    else:
        inner = LocalProvider()
    if settings.provider_delay_s or settings.provider_failure_rate:
        inner = FaultyProvider(inner, settings.provider_delay_s, settings.provider_failure_rate)
    return ResilientProvider(
        inner,
        timeout_s=settings.provider_timeout_s,
        max_attempts=settings.provider_max_attempts,
        failure_threshold=settings.provider_failure_threshold,
        reset_after_s=settings.provider_reset_after_s,
        retry_after_cap_s=settings.provider_retry_after_cap_s,
        observe=EnrichmentMetrics.provider_call(inner.name),
        permit=permit,
    )


def build(settings: EnricherSettings) -> Processor:
    """The enricher's stream processor: product events queue enrichment work by priority; a worker loop claims
    and enriches it (`EnrichmentWork`)."""
    sessions = make_session_factory(make_engine(settings.database_url, pool_size=4))
    outbox = OutboxWriter(SOURCE, settings.public_base_url)
    resilient = provider(settings)
    store = EnrichmentStore(sessions, outbox, refresh_after_s=settings.enrich_refresh_after_s)
    enricher = Enricher(store=store, provider=resilient, taxonomy=Taxonomy.default())
    processor = Processor("enricher", settings)
    metrics = EnrichmentMetrics()
    metrics.watch_breaker(resilient.name, resilient.breaker)
    queue = EnrichmentQueue(sessions, settings.enrich_claim_lease_s)
    work = EnrichmentWork(
        queue,
        store,
        enricher,
        Backpressure(settings.enrich_queue_bound),
        batch=settings.enrich_batch,
        max_attempts=settings.enrich_max_attempts,
        slow_s=settings.enrich_slow_s,
        # Not "closed": with nothing else calling the provider, only the degraded work itself can make the trial
        # call that closes an open circuit once the provider is back.
        provider_available=resilient.breaker.may_try,
        degraded_every_s=settings.enrich_degraded_every_s,
        shed=metrics.shed,
        enriched=metrics.enriched,
        stall_after_s=max(settings.stall_after_s, settings.enrich_claim_lease_s),  # a batch may take its lease
    )
    processor.health.checks.append(work.stalled)  # readiness also says when queued work stops moving

    # The consumer only queues; the workers enrich, most urgent first, whether or not the broker is reachable.
    processor.batch_agent(PRODUCT, work.request_changes)
    processor.batch_agent(ENRICHMENT_REQUESTS, work.requested)

    @processor.timer(settings.enrich_poll_s, needs_broker=False)
    async def enrich_queued() -> None:
        await work.tick()
        metrics.queue(work.counts)

    # Recurring jobs, each run by one enricher instance per due time (the `schedules` table), visible in the console.
    jobs: dict[str, ScheduledJob] = {}
    crons: dict[str, str] = {}

    async def refresh_stale() -> Outcome:
        parked = Backpressure(settings.enrich_queue_bound).admit(Priority.LOW, work.counts.backlog)
        queued = await asyncio.to_thread(
            queue.queue_stale,
            settings.enrich_refresh_after_s,
            RULES_VERSION,
            settings.enrich_refresh_batch,
            parked is Admission.PARK,
        )
        if queued is None:
            return Outcome(RunResult.SKIPPED, "another enricher is scanning")
        return Outcome(RunResult.OK, f"{queued} queued at low" + (" (parked)" if parked is Admission.PARK else ""))

    if settings.enrich_refresh_schedule:
        jobs[REFRESH], crons[REFRESH] = refresh_stale, settings.enrich_refresh_schedule

    if settings.reconcile_interval_s > 0:
        backfill = OutboxWriter(SOURCE, settings.public_base_url, lane=Lane.BULK)  # re-announcements are bulk work
        reconciler = Reconciler(
            PipelineGaps(sessions, backfill),
            settings.reconcile_after_s,
            settings.reconcile_batch,
            busy=lambda: max(processor.health.lane_lag(Lane.BULK), work.counts.backlog) > settings.reconcile_batch,
        )

        async def reconcile() -> Outcome:
            healed = await reconciler.tick()
            return Outcome(RunResult.OK, f"{healed} re-announced") if healed else Outcome(RunResult.SKIPPED)

        jobs[RECONCILE], crons[RECONCILE] = reconcile, every(settings.reconcile_interval_s)

    if jobs:
        scheduler = Scheduler(ScheduleStore(sessions), "enricher", jobs, observe=schedule_metrics.observe)
        registered = False

        @processor.timer(settings.scheduler_tick_s, needs_broker=False)
        async def run_schedules() -> None:
            nonlocal registered
            if not registered:  # here rather than at start-up: the database may be down when the process starts
                await asyncio.to_thread(scheduler.register, crons)
                registered = True
            await scheduler.tick()

    return processor
