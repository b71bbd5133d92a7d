"""The importer's composition root: picks the adapters for the settings and wires them into the service layer."""

import asyncio
from datetime import timedelta

from catalog_core.adapters.schedule_metrics import observe
from catalog_core.adapters.schedules import ScheduleStore
from catalog_core.service_layer.scheduler import Scheduler
from catalog_importer.adapters.feed_fetch import FeedFetcher
from catalog_importer.adapters.feed_sources import OWNER, FeedSources
from catalog_importer.adapters.jobs import ClaimRules, JobClaims, OutcomeAnnouncer
from catalog_importer.adapters.ledger import Ledger
from catalog_importer.adapters.metrics import ImportMetrics
from catalog_importer.service_layer.dispatcher import Dispatcher
from catalog_importer.service_layer.feed_pulls import FeedJobs, FeedPulls
from catalog_importer.service_layer.import_requests import ImportRequests
from catalog_importer.service_layer.runner import JobRunner
from catalog_importer.settings import ImporterSettings
from catalog_kit.db import make_engine, make_session_factory
from catalog_kit.object_store import object_store
from catalog_kit.outbound import OutboundClient
from catalog_kit.outbox import OutboxWriter
from catalog_schemas import Lane
from catalog_schemas.topics import IMPORTS
from catalog_stream.processor import Processor

SOURCE = "/catalog/importer"


def dispatcher(settings: ImporterSettings, metrics: ImportMetrics | None = None) -> Dispatcher:
    """Claims over the catalog database, a runner writing through the outbox, and the slots that run them."""
    # A session per chunk slot, one per running job (its heartbeat, the progress it reads), and the watchdog's.
    pool_size = settings.import_chunk_slots + settings.import_max_jobs + 2
    sessions = make_session_factory(make_engine(settings.database_url, pool_size=pool_size))
    claims = JobClaims(
        sessions,
        ClaimRules(
            worker=settings.import_worker_id,
            stale_after=timedelta(seconds=settings.import_stale_after_s),
            max_attempts=settings.import_max_attempts,
        ),
        # Outcomes in the interactive lane: few, and someone waits for them (webhooks); never behind a feed's rows.
        announce=OutcomeAnnouncer(OutboxWriter(SOURCE, settings.public_base_url), settings.public_base_url),
    )
    runner = JobRunner(
        sessions,
        object_store(settings),
        OutboxWriter(SOURCE, settings.public_base_url, lane=Lane.BULK),  # a feed never delays an API write
        claims,
        ledger=Ledger,
        chunk_rows=settings.import_chunk_rows,
        max_row_attempts=settings.import_max_row_attempts,
        retry_backoff=timedelta(seconds=settings.import_retry_backoff_s),
        chunk_slots=settings.import_chunk_slots,
        observer=metrics,
    )
    return Dispatcher(
        claims,
        runner,
        max_jobs=settings.import_max_jobs,
        heartbeat_interval_s=settings.import_heartbeat_interval_s,
    )


def feed_scheduler(settings: ImporterSettings) -> Scheduler:
    """Scheduled supplier feed pulls: each `feed:<name>` schedule, run by one importer per due time."""
    sessions = make_session_factory(make_engine(settings.database_url, pool_size=1))
    objects = object_store(settings)
    client = OutboundClient(settings.outbound_policy(), timeout_s=60.0, headers={"User-Agent": "catalog-importer/1"})
    fetcher = FeedFetcher(client, objects, settings.feed_pull_max_bytes, settings.feed_pull_timeout_s)
    sources = FeedSources(sessions, OutboxWriter(SOURCE, settings.public_base_url))
    pulls = FeedJobs(FeedPulls(sources, fetcher, objects))
    return Scheduler(ScheduleStore(sessions), OWNER, pulls, lease_s=settings.feed_pull_timeout_s + 60, observe=observe)


def build(settings: ImporterSettings) -> Processor:
    """The importer's stream processor: requests start jobs, a timer runs the watchdog, shutdown hands jobs back."""
    # Its own connection: the sampling never waits for a chunk slot's session.
    metrics = ImportMetrics(make_session_factory(make_engine(settings.database_url, pool_size=1)))
    requests = ImportRequests(dispatcher(settings, metrics))
    processor = Processor("importer", settings)

    @processor.timer(settings.import_metrics_interval_s)
    async def sample_metrics() -> None:
        await asyncio.to_thread(metrics.sample)

    processor.agent(IMPORTS, requests.requested)
    scheduler = feed_scheduler(settings)
    processor.timer(settings.scheduler_tick_s, needs_broker=False)(scheduler.tick)
    processor.timer(settings.import_watchdog_interval_s)(requests.watchdog)
    processor.on_shutdown(requests.stop)
    return processor
