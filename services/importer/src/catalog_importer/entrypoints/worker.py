"""The `catalog-importer` command: consumes `import.requested`, runs import jobs, watches over abandoned ones.

The agent only claims and dispatches (a job takes minutes; the event loop must keep heartbeating the consumer
group), so the record's offset is committed once the job is claimed or known to be someone else's: the job row,
not the topic, is what a crash must not lose, and the watchdog sweep recovers any job left behind.
"""

import asyncio
import logging
import uuid
from datetime import timedelta

from catalog_importer.adapters.jobs import ClaimRules, JobClaims
from catalog_importer.service_layer.dispatcher import Dispatcher
from catalog_importer.service_layer.runner import JobRunner
from catalog_importer.settings import ImporterSettings
from catalog_kit.db import make_engine, make_session_factory
from catalog_kit.envelope import EventEnvelope
from catalog_kit.object_store import object_store
from catalog_kit.outbox import OutboxWriter
from catalog_schemas.topics import IMPORTS
from catalog_stream.processor import PermanentFailure, Processor

log = logging.getLogger("catalog_importer")
SOURCE = "/catalog/importer"
SHUTDOWN_GRACE_S = 20.0  # within the platform's 30 s: running jobs stop at their next chunk and are handed back


def build_dispatcher(settings: ImporterSettings) -> Dispatcher:
    sessions = make_session_factory(make_engine(settings.database_url, pool_size=2 * settings.import_max_jobs + 2))
    claims = JobClaims(
        sessions,
        ClaimRules(
            worker=settings.import_worker_id,
            stale_after=timedelta(seconds=settings.import_stale_after_s),
            max_attempts=settings.import_max_attempts,
        ),
    )
    runner = JobRunner(
        sessions,
        object_store(settings),
        OutboxWriter(SOURCE, settings.public_base_url),
        claims,
        chunk_rows=settings.import_chunk_rows,
        max_row_attempts=settings.import_max_row_attempts,
        retry_backoff=timedelta(seconds=settings.import_retry_backoff_s),
    )
    return Dispatcher(
        claims,
        runner,
        max_jobs=settings.import_max_jobs,
        heartbeat_interval_s=settings.import_heartbeat_interval_s,
    )


def requested_job(envelope: EventEnvelope) -> uuid.UUID:
    """The job an `import.requested` event names; a malformed event is dead-lettered."""
    try:
        return uuid.UUID(str(envelope.data["job_id"]))
    except (KeyError, ValueError) as exc:
        raise PermanentFailure(f"import.requested without a valid job_id: {exc}") from exc


def main() -> None:
    settings = ImporterSettings()
    dispatcher = build_dispatcher(settings)
    processor = Processor("importer", settings)

    async def on_import_requested(envelope: EventEnvelope) -> None:
        job_id = requested_job(envelope)
        started = await asyncio.to_thread(dispatcher.offer, job_id)
        log.info("import requested", extra={"job_id": str(job_id), "event_id": envelope.id, "started": started})

    @processor.timer(settings.import_watchdog_interval_s)
    async def watchdog() -> None:
        await asyncio.to_thread(dispatcher.sweep)

    @processor.on_shutdown
    async def stop_jobs() -> None:
        log.info("stopping: handing running import jobs back", extra={"jobs": [str(j) for j in dispatcher.running()]})
        await asyncio.to_thread(dispatcher.shutdown, SHUTDOWN_GRACE_S)

    processor.agent(IMPORTS, on_import_requested)
    processor.run()
