"""Runs one claimed job: streams its feed from where the last committed chunk ended, a chunk per transaction,
until the end of the feed, a cancel request, a stop, or an error.

The feed is read on the job's thread while its chunks are written on chunk threads: up to `ChunkTurns.slots`
chunks of a job are in flight, committed in feed order (`pipeline.Baton`), and the running jobs of the importer
take turns at those slots, so a huge feed cannot starve a small one.
"""

import io
import logging
import threading
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent import futures
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import AbstractContextManager, contextmanager
from datetime import timedelta
from enum import Enum
from typing import BinaryIO, Protocol, cast

import stamina
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from catalog_core.domain.imports import JobMode
from catalog_importer.adapters.jobs import Claim, LostClaim
from catalog_importer.domain.feed import FeedError, Position, read_feed
from catalog_importer.domain.products import ProductRows, chunks, sku_keys
from catalog_importer.domain.tally import Tally
from catalog_importer.service_layer.chunks import ChunkResult, ChunkWriter
from catalog_importer.service_layer.job_records import JobProgress, LedgerOn
from catalog_importer.service_layer.pipeline import Baton, ChunkTurns
from catalog_kit import tracing
from catalog_kit.object_store import ObjectNotFound, ObjectStore
from catalog_kit.outbox import OutboxWriter

log = logging.getLogger("catalog_importer.runner")

FEED_BUFFER_BYTES = 1024 * 1024
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


class _End(Enum):
    FINISHED = "finished"  # the whole feed
    CANCELLED = "cancelled"  # a chunk found the cancel request; nothing after it was committed
    STOPPED = "stopped"  # `stop` was set: handed back after the chunks in flight


class ChunkObserver(Protocol):
    """Told about every committed chunk (the metrics); called from the chunk threads."""

    def chunk_committed(self, result: ChunkResult) -> None: ...


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
        chunk_slots: int = 2,
        observer: ChunkObserver | None = None,
    ) -> None:
        self.sessions = sessions
        self.store = store
        self.outbox = outbox
        self.claims = claims
        self.ledger = ledger
        self.chunk_rows = chunk_rows
        self.max_row_attempts = max_row_attempts
        self.retry_backoff = retry_backoff
        self.turns = ChunkTurns(chunk_slots)  # shared by every job this runner runs
        self.observer = observer

    def run(self, claim: Claim, stop: threading.Event) -> None:
        """Run the job until it ends or `stop` is set (then it is handed back at the next chunk boundary)."""
        job = claim.job
        context = {"job_id": str(job.id), "mode": str(job.mode), "attempt": job.attempts}
        log.info("import job started", extra={**context, "resume_at_row": job.next_row, "format": str(job.format)})
        attributes = {"catalog.job_id": str(job.id), "catalog.job_mode": str(job.mode)}
        with tracing.child_span("import job run", job.traceparent, attributes) as traceparent:
            self._run(claim, stop, context, traceparent)

    def _run(self, claim: Claim, stop: threading.Event, context: dict[str, object], traceparent: str | None) -> None:
        job = claim.job
        try:
            retry = None
            if job.mode is JobMode.RETRY:
                with self.sessions() as session:
                    retry = self.ledger(session).retryable(job.id, self.max_row_attempts)
            writer = ChunkWriter(self.sessions, self.outbox, self.claims, self.ledger, claim, retry, traceparent)
            rows = read_feed(
                job.format, self._opener(job.object_key), Position(job.bytes_done, job.next_row, job.next_line)
            )
            # Leaving the pool waits for every chunk in flight, also when reading the feed failed: what was
            # written before the failure commits, as it would one chunk after the other.
            with ThreadPoolExecutor(self.turns.slots, thread_name_prefix=f"chunks-{job.id}") as pool:
                end, tally = self._write_chunks(pool, writer, chunks(rows, self.chunk_rows), stop)
            if end is _End.STOPPED:
                self.claims.hand_back(claim, None, timedelta(0))
                log.info("import job handed back", extra={**context, "rows_processed": tally.processed})
                return
            if end is _End.CANCELLED:
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

    def _opener(self, key: str) -> Callable[[int], AbstractContextManager[BinaryIO]]:
        """Opens the feed at an offset, read through a large buffer: each read from the store lets go of the GIL,
        and getting it back behind busy chunk threads can take a switch interval, so the reader reads rarely."""

        @contextmanager
        def opened(offset: int) -> Iterator[BinaryIO]:
            # Any stream with `readinto` (a file, the S3 body's reader, BytesIO) can be the raw side; closing the
            # buffer closes it.
            with io.BufferedReader(cast(io.RawIOBase, self.store.open(key, offset)), FEED_BUFFER_BYTES) as buffered:
                yield buffered

        return opened

    def _write_chunks(
        self,
        pool: ThreadPoolExecutor,
        writer: ChunkWriter,
        feed: Iterable[list[ProductRows]],
        stop: threading.Event,
    ) -> tuple[_End, Tally]:
        """Hand the chunks to the pool, at most `slots` in flight, and take their results in feed order. A chunk's
        error is raised here once the chunks before it are done (those after it roll back)."""
        job = writer.claim.job
        tally, run_rows = Tally.of(job), job.run_rows
        inflight: deque[Future[ChunkResult]] = deque()
        after = Baton.committed_with(tally)
        for chunk in feed:
            tally, cancelled = _collect(inflight, tally, keep=self.turns.slots - 1)
            if cancelled:
                return _End.CANCELLED, tally
            if stop.is_set():
                tally, cancelled = _collect(inflight, tally, keep=0)
                return (_End.CANCELLED if cancelled else _End.STOPPED), tally
            run_rows += sum(len(product.rows) for product in chunk)
            baton = Baton(sku_keys(chunk))
            self.turns.acquire()
            try:
                inflight.append(pool.submit(self._write_turn, writer, chunk, run_rows, after, baton))
            except BaseException:
                self.turns.release()
                raise
            after = baton
        tally, cancelled = _collect(inflight, tally, keep=0)
        return (_End.CANCELLED if cancelled else _End.FINISHED), tally

    def _write_turn(
        self, writer: ChunkWriter, chunk: list[ProductRows], run_rows: int, after: Baton, baton: Baton
    ) -> ChunkResult:
        """One chunk on a chunk thread, in the turn it was given; its baton tells the next chunk how it ended."""
        try:
            result = write_chunk(lambda: writer.write(chunk, run_rows, after, baton), writer.claim.job.id)
        except BaseException:
            baton.abandon()
            raise
        else:
            if result.cancel_requested:
                baton.abandon()  # committed, but the job ends here: the chunks after it roll back
            else:
                baton.commit(result.tally)
            if self.observer is not None:
                self.observer.chunk_committed(result)
            return result
        finally:
            self.turns.release()

    def _fail(self, claim: Claim, reason: str, context: dict[str, object]) -> None:
        try:
            job = self.claims.fail(claim, reason)
        except LostClaim:
            return
        log.warning("import job failed", extra={**context, "state": str(job.state), "reason": reason})


def _collect(inflight: deque[Future[ChunkResult]], tally: Tally, *, keep: int) -> tuple[Tally, bool]:
    """Take the results of the oldest chunks in flight, in feed order, until at most `keep` remain and the oldest is
    still running. Returns the tally and whether a chunk found the job cancelled (the rest then rolled back)."""
    while inflight and (len(inflight) > keep or inflight[0].done()):
        result = inflight.popleft().result()
        tally = result.tally
        if result.cancel_requested:
            futures.wait(inflight)  # they roll back: their predecessor abandoned its baton
            inflight.clear()
            return tally, True
    return tally, False
