"""What the importer does with `import.requested` events, its watchdog ticks and its shutdown.

The handler only claims and dispatches (a job takes minutes; the event loop must keep heartbeating the consumer
group), so the record's offset is committed once the job is claimed or known to be someone else's: the job row,
not the topic, is what a crash must not lose, and the watchdog sweep recovers any job left behind.
"""

import asyncio
import logging
import uuid
from dataclasses import dataclass
from typing import Protocol

from catalog_kit.envelope import EventEnvelope
from catalog_stream.processor import PermanentFailure

log = logging.getLogger("catalog_importer")

SHUTDOWN_GRACE_S = 20.0  # within the platform's 30 s: running jobs stop at their next chunk and are handed back


class JobDispatch(Protocol):
    """Runs import jobs in a bounded number of slots (blocking calls: made from a worker thread)."""

    def offer(self, job_id: uuid.UUID) -> bool: ...

    def sweep(self) -> None: ...

    def running(self) -> list[uuid.UUID]: ...

    def shutdown(self, timeout: float) -> None: ...


def requested_job(envelope: EventEnvelope) -> uuid.UUID:
    """The job an `import.requested` event names; a malformed event is dead-lettered."""
    try:
        return uuid.UUID(str(envelope.data["job_id"]))
    except (KeyError, ValueError) as exc:
        raise PermanentFailure(f"import.requested without a valid job_id: {exc}") from exc


@dataclass
class ImportRequests:
    dispatcher: JobDispatch

    async def requested(self, envelope: EventEnvelope) -> None:
        """Start the job an event names if a slot is free (otherwise a later sweep finds it)."""
        job_id = requested_job(envelope)
        started = await asyncio.to_thread(self.dispatcher.offer, job_id)
        log.info("import requested", extra={"job_id": str(job_id), "event_id": envelope.id, "started": started})

    async def watchdog(self) -> None:
        """Fail exhausted jobs, finish abandoned cancels, fill free slots."""
        await asyncio.to_thread(self.dispatcher.sweep)

    async def stop(self) -> None:
        """Stop taking jobs and hand the running ones back."""
        log.info(
            "stopping: handing running import jobs back", extra={"jobs": [str(j) for j in self.dispatcher.running()]}
        )
        await asyncio.to_thread(self.dispatcher.shutdown, SHUTDOWN_GRACE_S)
