"""Runs one claimed job: streams its feed from where the last committed chunk ended, a chunk per transaction,
until the end of the feed, a cancel request, a stop, or an error."""

import logging
import threading
import uuid
from collections.abc import Callable
from datetime import timedelta

import stamina
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from catalog_core.domain.imports import JobMode
from catalog_importer.adapters.jobs import Claim, LostClaim
from catalog_importer.domain.feed import FeedError, Position, read_feed
from catalog_importer.domain.products import ProductRows, chunks
from catalog_importer.domain.tally import Tally
from catalog_importer.service_layer.chunks import ChunkResult, ChunkWriter
from catalog_importer.service_layer.job_records import JobProgress, LedgerOn
from catalog_kit.object_store import ObjectNotFound, ObjectStore
from catalog_kit.outbox import OutboxWriter

log = logging.getLogger("catalog_importer.runner")

CHUNK_TRIES = 3  # a chunk that hits a transient database error is tried again before the job is handed back
CHUNK_BACKOFF_S = 0.4  # before the second try; doubled before each further one


def transient(error: Exception) -> bool:
    """Whether a failed chunk may succeed when written again: the connection broke, or the server is going away."""
    return isinstance(error, DBAPIError) and (isinstance(error, OperationalError) or error.connection_invalidated)


def write_chunk(write: Callable[[], ChunkResult], job_id: uuid.UUID) -> ChunkResult:
    """`write()`, tried again after a transient database error, up to CHUNK_TRIES times in all."""
    # The chunk is one transaction, so a failed try left nothing behind and the next one starts clean. No overall
    # time limit: a large chunk may take a while, and the tries are few.
    for attempt in stamina.retry_context(
        on=transient, attempts=CHUNK_TRIES, timeout=None, wait_initial=CHUNK_BACKOFF_S, wait_jitter=0.0
    ):
        with attempt:
            if attempt.num > 1:
                log.warning("chunk failed; trying again", extra={"job_id": str(job_id), "attempt": attempt.num})
            return write()
    raise AssertionError("unreachable: the last try returns or raises")


class JobRunner:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        store: ObjectStore,
        outbox: OutboxWriter,
        claims: JobProgress,
        *,
        ledger: LedgerOn,
        chunk_rows: int,
        max_row_attempts: int,
        retry_backoff: timedelta,
    ) -> None:
        self.sessions = sessions
        self.store = store
        self.outbox = outbox
        self.claims = claims
        self.ledger = ledger
        self.chunk_rows = chunk_rows
        self.max_row_attempts = max_row_attempts
        self.retry_backoff = retry_backoff

    def run(self, claim: Claim, stop: threading.Event) -> None:
        """Run the job until it ends or `stop` is set (then it is handed back at the next chunk boundary)."""
        job = claim.job
        context = {"job_id": str(job.id), "mode": str(job.mode), "attempt": job.attempts}
        log.info("import job started", extra={**context, "resume_at_row": job.next_row, "format": str(job.format)})
        try:
            retry = None
            if job.mode is JobMode.RETRY:
                with self.sessions() as session:
                    retry = self.ledger(session).retryable(job.id, self.max_row_attempts)
            writer = ChunkWriter(self.sessions, self.outbox, self.claims, self.ledger, claim, retry)
            tally, run_rows = Tally.of(job), job.run_rows
            rows = read_feed(
                job.format,
                lambda offset: self.store.open(job.object_key, offset),
                Position(job.bytes_done, job.next_row, job.next_line),
            )
            for chunk in chunks(rows, self.chunk_rows):
                if stop.is_set():
                    self.claims.hand_back(claim, None, timedelta(0))
                    log.info("import job handed back", extra={**context, "next_row": chunk[0].rows[0].number})
                    return
                run_rows += sum(len(product.rows) for product in chunk)
                result = self._write(writer, chunk, tally, run_rows)
                tally = result.tally
                if result.cancel_requested:
                    self.claims.cancelled(claim)
                    log.info("import job cancelled", extra={**context, "rows_processed": tally.processed})
                    return
            finished = self.claims.finish(claim, tally)
            log.info(
                "import job finished",
                extra={
                    **context,
                    "state": str(finished.state),
                    "rows": tally.processed,
                    "failed": tally.failed,
                    "skipped": tally.skipped,
                    "rows_per_second": finished.rows_per_second(finished.updated_at),
                },
            )
        except FeedError as exc:
            self._fail(claim, str(exc), context)
        except ObjectNotFound:
            self._fail(claim, "the feed file is missing from the object store", context)
        except LostClaim:
            log.warning("import job taken over by another worker; stopping", extra=context)
        except Exception as exc:
            log.exception("import job failed; handing it back", extra=context)
            try:
                self.claims.hand_back(claim, f"{type(exc).__name__}: {exc}", self.retry_backoff)
            except Exception:
                log.exception("could not hand the job back; the watchdog will", extra=context)

    def _write(self, writer: ChunkWriter, chunk: list[ProductRows], tally: Tally, run_rows: int) -> ChunkResult:
        return write_chunk(lambda: writer.write(chunk, tally, run_rows), writer.claim.job.id)

    def _fail(self, claim: Claim, reason: str, context: dict[str, object]) -> None:
        try:
            job = self.claims.fail(claim, reason)
        except LostClaim:
            return
        log.warning("import job failed", extra={**context, "state": str(job.state), "reason": reason})
