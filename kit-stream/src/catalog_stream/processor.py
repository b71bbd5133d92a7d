"""What every stream processor shares: a consumer group, ordered handling, lanes, batches, retries, dead letters.

An agent stays a few lines: decode the envelope, call a pure function, apply the result through an adapter.
`Processor` runs one aiokafka consumer for all of a service's topics, hands each partition's records to their
handler in order, and commits a partition's offsets only after its records are handled or durably dead-lettered
(at least once). Failures go by kind (`failures.py`): an outage is waited out, a bad record dead-lettered.

Lanes: an agent of a topic with a bulk lane (`catalog_schemas.topics.BULK_LANES`) consumes both topics, and bulk
records are taken only while no interactive record is waiting: before each bulk batch the consumer asks for
buffered interactive records first. An interactive record therefore waits at most for the one bulk batch in hand.

Batches: a batch agent gets a partition's records (up to CONSUMER_MAX_BATCH) at once and applies them in one
transaction. An outage retries the whole batch; any other failure isolates the bad record by handling the records
one at a time (each as a batch of one), with the usual retries and dead letters.
"""

import asyncio
import contextlib
import logging
import signal
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import stamina
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.abc import ConsumerRebalanceListener
from aiokafka.errors import CommitFailedError, IllegalStateError, KafkaError
from pydantic import Field

from catalog_kit import tracing
from catalog_kit.envelope import EventEnvelope
from catalog_kit.jsonlog import configure_logging
from catalog_kit.settings import CatalogSettings
from catalog_schemas.topics import BULK_LANES, Lane, Topic, dead_letter_topic, lane_of
from catalog_stream.client_config import connection
from catalog_stream.failures import Failure, PermanentFailure, classify
from catalog_stream.health import ConsumerHealth, HealthServer, sleep_until
from catalog_stream.tracing import HandlingSpans

__all__ = ["BatchHandler", "Handler", "PermanentFailure", "Processor", "ProcessorSettings"]

log = logging.getLogger(__name__)


class ProcessorSettings(CatalogSettings):
    """Consumer settings; every one is an environment variable of the same name."""

    broker_session_timeout_s: float = 10.0
    broker_heartbeat_interval_s: float = 1.0
    consumer_fetch_max_wait_ms: int = 100  # an idle consumer asks ten times a second; a new record waits ≤ 100 ms
    consumer_max_batch: int = Field(
        default=500, ge=1, description="Records per batch; an interactive record waits at most one bulk batch."
    )
    consumer_max_poll_interval_s: float = Field(
        default=600.0, description="A handler blocked longer than this (e.g. a long outage) rejoins the group."
    )
    processor_instance_id: str = Field(
        default="", description="Static group membership: a restarted instance takes its partitions back at once."
    )
    retry_attempts: int = Field(default=4, ge=1, description="Tries of a failing record before it is dead-lettered.")
    retry_backoff_base_s: float = 0.2
    retry_backoff_cap_s: float = 5.0
    health_host: str = "127.0.0.1"
    health_port: int = Field(default=0, description="Port of /healthz, /readyz; 0: any free port (logged).")
    stall_after_s: float = Field(default=30.0, description="Lag without progress for this long: not ready.")
    max_ready_lag: int = Field(default=10_000, description="Lag above this that does not shrink: not ready.")
    lag_sample_interval_s: float = 5.0
    shutdown_grace_s: float = Field(default=25.0, description="SIGTERM: time to finish in-flight records.")


Handler = Callable[[EventEnvelope], Awaitable[object]]
BatchHandler = Callable[[Sequence[EventEnvelope]], Awaitable[object]]
Periodic = Callable[[], Awaitable[object]]
Batches = dict[TopicPartition, list[ConsumerRecord[Any, Any]]]


class _Stopped(Exception):
    """The processor is stopping while an outage holds a record: leave it uncommitted for the next run."""


class Processor:
    """A named consumer group with its dead-letter topic; `run()` consumes until SIGTERM/SIGINT."""

    def __init__(self, name: str, settings: ProcessorSettings) -> None:
        self.name = name
        self.settings = settings
        self.group_id = f"catalog-{name}"  # the group ids the processors always had: committed offsets carry over
        self.dead_letters_topic = dead_letter_topic(name)
        self.health = ConsumerHealth(name, settings.stall_after_s, settings.max_ready_lag)
        self._handlers: dict[str, BatchHandler] = {}  # by topic name, both lanes of a topic
        self._batched: set[str] = set()
        self._periodic: list[tuple[float, Periodic]] = []
        self._independent: list[tuple[float, Periodic]] = []  # timers that do not wait for the broker
        self._on_shutdown: list[Periodic] = []
        self._committed: dict[TopicPartition, int] = {}
        self._stop = asyncio.Event()
        self._consumer: AIOKafkaConsumer | None = None
        self._producer: AIOKafkaProducer | None = None

    def agent(self, topic: Topic, handler: Handler) -> None:
        """Feed every record of `topic` (both lanes) to `handler`, one at a time, in order per partition."""

        async def one_at_a_time(events: Sequence[EventEnvelope]) -> None:
            for event in events:
                await handler(event)

        self._route(topic, one_at_a_time, batched=False)

    def batch_agent(self, topic: Topic, handler: BatchHandler) -> None:
        """Feed the records of `topic` (both lanes) to `handler` a partition's batch at a time, in offset order.

        The handler applies a batch all or nothing and must be safe to apply again (at least once)."""
        self._route(topic, handler, batched=True)

    def _route(self, topic: Topic, handler: BatchHandler, *, batched: bool) -> None:
        for lane in (topic, BULK_LANES.get(topic.name)):
            if lane is not None:
                self._handlers[lane.name] = handler
                if batched:
                    self._batched.add(lane.name)

    def timer(self, interval_s: float, *, needs_broker: bool = True) -> Callable[[Periodic], Periodic]:
        """Run the decorated coroutine every `interval_s` while the processor runs (its failures are logged).

        A job that needs the broker starts once the Kafka clients have connected; one that does not
        (`needs_broker=False`: work kept in the database) starts with the process, whatever the broker does."""

        def register(job: Periodic) -> Periodic:
            (self._periodic if needs_broker else self._independent).append((interval_s, job))
            return job

        return register

    def on_shutdown(self, job: Periodic) -> Periodic:
        """Run `job` when the processor stops, before its consumer leaves the group."""
        self._on_shutdown.append(job)
        return job

    def run(self) -> None:
        """Consume until SIGTERM/SIGINT: stop taking records, finish the one in hand, commit, exit."""
        configure_logging(self.name, self.settings.log_level)
        tracing.configure(self.name)
        asyncio.run(self._run_until_signalled())

    def stop(self) -> None:
        self._stop.set()

    async def _run_until_signalled(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._stop.set)
        serving = asyncio.create_task(self.serve())
        await asyncio.wait([serving, asyncio.create_task(self._stop.wait())], return_when=asyncio.FIRST_COMPLETED)
        try:
            await asyncio.wait_for(serving, timeout=self.settings.shutdown_grace_s)
        except TimeoutError:
            log.error("in-flight work did not finish in time; its records stay uncommitted", extra=self._ids())

    async def serve(self) -> None:
        """Consume until `stop()`; infrastructure that is down at start or later is waited for, never fatal."""
        settings = self.settings
        self._consumer = AIOKafkaConsumer(
            group_id=self.group_id,
            group_instance_id=settings.processor_instance_id or None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            isolation_level="read_committed",  # the relay publishes in transactions; aborted ones never count
            fetch_max_wait_ms=settings.consumer_fetch_max_wait_ms,
            max_poll_records=settings.consumer_max_batch,
            session_timeout_ms=int(settings.broker_session_timeout_s * 1000),
            heartbeat_interval_ms=int(settings.broker_heartbeat_interval_s * 1000),
            max_poll_interval_ms=int(settings.consumer_max_poll_interval_s * 1000),
            **connection(settings),
        )
        self._consumer.subscribe(list(self._handlers), listener=_Rebalance(self))
        self._producer = AIOKafkaProducer(acks="all", linger_ms=5, **connection(settings))
        server = HealthServer(self.health, settings.health_host, settings.health_port, loop_timeout_s=60.0)
        await server.start()
        log.info("health endpoints up", extra={**self._ids(), "port": server.bound_port})
        background = [asyncio.create_task(self._every(i, job)) for i, job in self._independent]
        try:
            if not await self._start_clients():
                return
            background += [asyncio.create_task(self._every(i, job)) for i, job in self._periodic]
            background.append(asyncio.create_task(self._sample_lag()))
            await self._consume()
        finally:
            for task in background:
                task.cancel()
            for job in self._on_shutdown:
                await _logged(job, "shutdown hook failed")
            await self._consumer.stop()  # leaves the group; nothing uncommitted is committed here
            await self._producer.stop()
            await server.stop()
            log.info("processor stopped", extra={**self._ids(), "processed": self.health.processed})

    async def _start_clients(self) -> bool:
        """Connect both clients, retrying while the broker is unreachable; False when stopped meanwhile."""
        assert self._consumer is not None
        assert self._producer is not None
        for client in (self._producer, self._consumer):
            try:
                await self._outage_tolerant(client.start)
            except _Stopped:
                return False
        return True

    async def _consume(self) -> None:
        assert self._consumer is not None
        next_idle_commit = time.monotonic()
        while not self._stop.is_set():
            try:
                # Interactive records already fetched go first; only without them does the loop wait for any lane.
                batches = await self._fetch(interactive_only=True) or await self._fetch(interactive_only=False)
            except Exception as exc:
                if classify(exc) is not Failure.INFRASTRUCTURE:
                    raise
                self.health.infrastructure_down(_describe(exc))
                await sleep_until(self._stop, 1.0)
                continue
            self.health.polled()
            try:
                for partition in sorted(batches, key=lambda p: lane_of(p.topic) is Lane.BULK):
                    if self._stop.is_set():
                        break  # fetched but not handled: not committed, so delivered again after the restart
                    if lane_of(partition.topic) is Lane.BULK:
                        await self._handle_waiting_interactive()
                    await self._handle_partition(partition, batches[partition])
                if time.monotonic() >= next_idle_commit:
                    await self._commit_idle_positions(set(batches))
                    next_idle_commit = time.monotonic() + self.settings.lag_sample_interval_s
            except _Stopped:
                return
            self.health.log_if_stalled()

    async def _fetch(self, *, interactive_only: bool) -> Batches:
        """Records the consumer holds: of the interactive lane at once (none: empty), or of any lane (waits)."""
        assert self._consumer is not None
        max_records = self.settings.consumer_max_batch
        batches: Batches = {}
        with contextlib.suppress(IllegalStateError):  # a partition was revoked meanwhile: nothing this round
            if not interactive_only:
                batches = await self._consumer.getmany(timeout_ms=500, max_records=max_records)
            elif wanted := [p for p in self._consumer.assignment() if lane_of(p.topic) is Lane.INTERACTIVE]:
                batches = await self._consumer.getmany(*wanted, timeout_ms=0, max_records=max_records)
        return batches

    async def _handle_waiting_interactive(self) -> None:
        """Handle the interactive records fetched meanwhile, so a bulk batch never goes before them."""
        while not self._stop.is_set():
            waiting = await self._fetch(interactive_only=True)
            if not waiting:
                return
            for partition, records in waiting.items():
                await self._handle_partition(partition, records)

    async def _commit_idle_positions(self, busy: set[TopicPartition]) -> None:
        """Move the committed offset of idle partitions up to the consumer's position.

        A transaction's commit marker takes an offset of its own that no record carries, so after the last record of
        a batch the committed offset stays one short of the end: lag would never reach 0 on a quiet topic. The
        position has stepped over the markers; nothing below it is unhandled for a partition that returned no
        records in this round (and this runs in the consume loop itself, so none can arrive meanwhile)."""
        assert self._consumer is not None
        for partition in self._consumer.assignment() - busy:
            committed = self._committed.get(partition)
            try:
                position = await self._consumer.position(partition)
            except (IllegalStateError, KafkaError) as exc:  # revoked meanwhile, or no position yet
                log.debug("no position to commit", extra={**self._ids(), "error": _describe(exc)})
                continue
            if committed is not None and position > committed:
                await self._commit(partition, position)

    async def _handle_partition(self, partition: TopicPartition, records: Sequence[ConsumerRecord[Any, Any]]) -> None:
        handler = self._handlers[partition.topic]
        started = time.perf_counter()
        isolated = False
        spans = (
            HandlingSpans(self.name, self.group_id, partition.topic, partition.partition, records)
            if tracing.enabled()
            else None
        )
        try:
            if partition.topic in self._batched and len(records) > 1:
                isolated = not await self._handle_batch(records, handler, spans)
            else:
                for record in records:
                    await self._handle(record, handler, spans)
        finally:
            if spans is not None:
                spans.end()
        await self._commit(partition, records[-1].offset + 1)
        self.health.progressed(len(records))
        self.health.metrics.handled(partition.topic, len(records), time.perf_counter() - started, isolated=isolated)

    async def _handle_batch(
        self, records: Sequence[ConsumerRecord[Any, Any]], handler: BatchHandler, spans: HandlingSpans | None = None
    ) -> bool:
        """Apply the records as one batch; an outage retries it, any other failure isolates record by record.

        True when the batch applied whole, False when it was handled record by record."""
        try:
            events = [_envelope(r, _headers(r), spans) for r in records]

            async def apply() -> None:
                await handler(events)

            await self._outage_tolerant(apply)
            return True
        except _Stopped:
            raise
        except Exception as exc:
            first = _record_ids(records[0])
            log.warning(
                "batch failed; handling its records one at a time",
                extra={**first, "records": len(records), "error": _describe(exc)},
            )
        for record in records:
            await self._handle(record, handler, spans)
        return False

    async def _handle(
        self, record: ConsumerRecord[Any, Any], handler: BatchHandler, spans: HandlingSpans | None = None
    ) -> None:
        """Handle one record: an outage is retried without limit, other failures a few times, then dead-lettered."""
        headers = _headers(record)
        failures = 0

        def retry(exc: Exception) -> bool:
            nonlocal failures
            kind = classify(exc)
            if kind is Failure.INFRASTRUCTURE:
                self.health.infrastructure_down(_describe(exc))
                return not self._stop.is_set()
            failures += 1
            if kind is Failure.TRANSIENT and failures < self.settings.retry_attempts:
                self.health.metrics.retries.inc()
                log.warning("processing failed; retrying", extra={**_record_ids(record), "error": _describe(exc)})
                return True
            return False

        try:
            async for attempt in stamina.retry_context(
                on=retry,
                attempts=None,
                timeout=None,
                wait_initial=self.settings.retry_backoff_base_s,
                wait_max=self.settings.retry_backoff_cap_s,
            ):
                with attempt:
                    await handler([_envelope(record, headers, spans)])
        except Exception as exc:
            if classify(exc) is Failure.INFRASTRUCTURE:
                raise _Stopped from exc
            self.health.infrastructure_back()
            if spans is not None:
                spans.failed(record, exc)
            await self.dead_letter(record, headers, exc, max(failures, 1))
            return
        self.health.infrastructure_back()

    async def dead_letter(
        self, record: ConsumerRecord[Any, Any], headers: Sequence[tuple[str, bytes]], error: BaseException, tries: int
    ) -> None:
        """Publish the record as it was, plus why and where it failed; wait for the broker's acknowledgement."""
        assert self._producer is not None
        reason = {
            "dlq_processor": self.name,
            "dlq_error": _describe(error, 2000),
            "dlq_attempts": str(tries),
            "dlq_topic": record.topic,
            "dlq_partition": str(record.partition),
            "dlq_offset": str(record.offset),
            "dlq_time": str(time.time()),
        }
        producer = self._producer
        all_headers = [*headers, *((k, v.encode()) for k, v in reason.items())]

        async def send() -> None:
            await producer.send_and_wait(
                self.dead_letters_topic.name, value=record.value, key=record.key, headers=all_headers
            )

        await self._outage_tolerant(send)  # offsets move past the record only once its dead letter is durable
        self.health.dead_letter_published()
        log.error(
            "record dead-lettered",
            extra={**_record_ids(record), "dlq_topic": self.dead_letters_topic.name, "error": reason["dlq_error"]},
        )

    async def _commit(self, partition: TopicPartition, offset: int) -> None:
        assert self._consumer is not None
        consumer = self._consumer

        async def commit() -> None:
            await consumer.commit({partition: offset})

        try:
            await self._outage_tolerant(commit)
            self._committed[partition] = offset
        except (CommitFailedError, IllegalStateError) as exc:
            # The partition moved to another member in a rebalance: it resumes from the last commit (at least once).
            log.warning("offset commit refused after a rebalance", extra={**self._ids(), "error": _describe(exc)})

    async def _outage_tolerant(self, action: Callable[[], Awaitable[None]]) -> None:
        """Run `action`, retrying without limit while infrastructure is unavailable; `_Stopped` when stopping."""

        def retry(exc: Exception) -> bool:
            if classify(exc) is not Failure.INFRASTRUCTURE:
                return False
            self.health.infrastructure_down(_describe(exc))
            return not self._stop.is_set()

        try:
            async for attempt in stamina.retry_context(
                on=retry, attempts=None, timeout=None, wait_max=self.settings.retry_backoff_cap_s
            ):
                with attempt:
                    await action()
        except Exception as exc:
            if classify(exc) is Failure.INFRASTRUCTURE:
                raise _Stopped from exc
            raise
        self.health.infrastructure_back()

    async def _sample_lag(self) -> None:
        """Lag = end offset minus committed offset, per assigned partition, every `lag_sample_interval_s`."""
        assert self._consumer is not None
        while not await sleep_until(self._stop, self.settings.lag_sample_interval_s):
            try:
                assigned = list(self._consumer.assignment())
                if not assigned:
                    continue
                ends = await self._consumer.end_offsets(assigned)
                for partition in assigned:
                    if partition not in self._committed:
                        committed = await self._consumer.committed(partition)
                        if committed is None:
                            committed = (await self._consumer.beginning_offsets([partition]))[partition]
                        self._committed[partition] = committed
                lag = {(p.topic, p.partition): max(0, ends[p] - self._committed[p]) for p in assigned}
                self.health.sample_lag(lag)
                self.health.log_if_stalled()
            except Exception as exc:
                log.warning("lag not sampled", extra={**self._ids(), "error": _describe(exc)})

    async def _every(self, interval_s: float, job: Periodic) -> None:
        while not await sleep_until(self._stop, interval_s):
            await _logged(job, "periodic job failed")

    async def record_start(self, partitions: set[TopicPartition]) -> None:
        """Commit where the group starts on partitions it never committed on (their beginning, where it reads from
        anyway), so that the broker knows every partition the group reads: its lag there (the relay's
        `catalog_consumer_group_lag`) then shows records that wait while no member runs, from the first start on.

        Runs in the rebalance, before this member fetched from the new partitions; should a first batch commit in
        between, the next batch's commit moves the offset on again, and at worst records are handled twice (at
        least once)."""
        assert self._consumer is not None
        try:
            new = [p for p in partitions if await self._consumer.committed(p) is None]
            if new:
                await self._consumer.commit(await self._consumer.beginning_offsets(new))
        except (KafkaError, IllegalStateError, CommitFailedError) as exc:
            log.warning("start offsets not recorded", extra={**self._ids(), "error": _describe(exc)})

    def forget(self, partitions: set[TopicPartition]) -> None:
        """Drop what was known of partitions another member may now commit."""
        for partition in partitions:
            self._committed.pop(partition, None)

    def _ids(self) -> dict[str, Any]:
        return {"processor": self.name, "group": self.group_id}


class _Rebalance(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, processor: Processor) -> None:
        self.processor = processor

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        self.processor.forget(set(revoked))

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        self.processor.forget(set(assigned))
        await self.processor.record_start(set(assigned))
        self.processor.health.assigned({(p.topic, p.partition) for p in assigned})
        log.info(
            "partitions assigned",
            extra={**self.processor._ids(), "partitions": sorted(f"{p.topic}[{p.partition}]" for p in assigned)},
        )


async def _logged(job: Periodic, message: str) -> None:
    try:
        await job()
    except Exception as exc:
        log.exception(message, extra={"error": _describe(exc)})


def _describe(exc: BaseException, limit: int = 300) -> str:
    return f"{type(exc).__name__}: {exc}"[:limit]


def _envelope(
    record: ConsumerRecord[Any, Any], headers: Sequence[tuple[str, bytes]], spans: HandlingSpans | None
) -> EventEnvelope:
    """The record's event; with traces on, carrying the context of its handling span (see `tracing.py`)."""
    event = EventEnvelope.from_kafka(headers, record.value)
    return event if spans is None else spans.continued(record, event)


def _headers(record: ConsumerRecord[Any, Any]) -> list[tuple[str, bytes]]:
    return [(k, bytes(v)) for k, v in (record.headers or ())]


def _record_ids(record: ConsumerRecord[Any, Any]) -> dict[str, Any]:
    headers = dict(record.headers or ())
    return {
        "event_id": bytes(headers.get("ce_id", b"")).decode(errors="replace"),
        "product_id": bytes(headers.get("ce_subject", b"")).decode(errors="replace"),
        "topic": record.topic,
        "partition": record.partition,
        "offset": record.offset,
    }
