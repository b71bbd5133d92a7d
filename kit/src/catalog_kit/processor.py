"""What every stream processor shares: a faust app configured from the environment, retries, dead letters.

An agent stays a few lines: decode the envelope, call a pure function, apply the result through an adapter,
all inside `Processor.handle`, which retries with exponential backoff and dead-letters what keeps failing.
"""

import asyncio
import logging
import random
import tempfile
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import aiokafka
import faust
from faust.types import EventT
from pydantic import Field

from catalog_kit.envelope import EnvelopeError, EventEnvelope
from catalog_kit.jsonlog import logging_config
from catalog_kit.settings import CatalogSettings
from catalog_schemas.topics import Topic, dead_letter_topic

log = logging.getLogger(__name__)


class ProcessorSettings(CatalogSettings):
    """Consumer settings; the defaults suit a local single broker (see docs/architecture.md)."""

    processor_concurrency: int = 1
    # Apache Kafka's smallest allowed session (group.min.session.timeout.ms): a killed worker's partitions move on
    # after 6 s. Tansu's first group join waits about half of it.
    broker_session_timeout_s: float = 6.0
    broker_heartbeat_interval_s: float = 1.0
    # faust hard-codes a 1.5 s fetch wait; a broker that holds every fetch that long (Tansu does) would add up to
    # 1.5 s to each event's latency. 100 ms costs an idle consumer ten cheap requests a second.
    consumer_fetch_max_wait_ms: int = 100
    processor_data_dir: str = Field(default="", description="faust's local data; empty: the temp directory.")
    retry_attempts: int = 4
    retry_backoff_base_s: float = 0.2
    retry_backoff_cap_s: float = 5.0


class PermanentFailure(Exception):
    """A record that no retry can fix (undecodable, breaks its contract): dead-lettered at once."""


Handler = Callable[[EventEnvelope], Awaitable[None]]


class Processor:
    """A named faust app with its dead-letter topic; `run()` starts the worker (SIGTERM stops it cleanly)."""

    def __init__(self, name: str, settings: ProcessorSettings) -> None:
        _set_fetch_max_wait(settings.consumer_fetch_max_wait_ms)
        self.name = name
        self.settings = settings
        brokers = ";".join(f"kafka://{host}" for host in settings.kafka_bootstrap_servers.split(","))
        self.app = faust.App(
            f"catalog-{name}",
            broker=brokers,
            value_serializer="raw",
            key_serializer="raw",
            web_enabled=False,
            broker_session_timeout=settings.broker_session_timeout_s,
            broker_heartbeat_interval=settings.broker_heartbeat_interval_s,
            consumer_auto_offset_reset="earliest",
            producer_acks=-1,
            # Topics come from the registry, created by the platform: faust declares none of its own (no internal
            # topics, no leader-election topic). aiokafka has no client-side switch against auto-creation (its
            # metadata requests always allow it); the brokers refuse (auto.create.topics.enable=false).
            topic_allow_declare=False,
            topic_disable_leader=True,
            datadir=settings.processor_data_dir or str(Path(tempfile.gettempdir()) / "catalog-faust"),
        )
        self.dead_letters_topic = dead_letter_topic(name)
        self._dead_letters = self.app.topic(self.dead_letters_topic.name, key_type=bytes, value_type=bytes)
        self.dead_lettered = 0

    def topic(self, topic: Topic) -> Any:
        return self.app.topic(topic.name, key_type=bytes, value_type=bytes)

    def agent(self, topic: Topic, handler: Handler) -> None:
        """Feed every record of `topic` to `handler`, in order per partition, with retries and dead letters."""

        async def consume(stream: Any) -> None:
            async for event in stream.events():
                await self.handle(event, handler)

        self.app.agent(
            self.topic(topic), name=f"{self.name}-{topic.name}", concurrency=self.settings.processor_concurrency
        )(consume)

    async def handle(self, event: EventT[Any], handler: Handler) -> None:
        """Decode and process one record; retry transient failures, dead-letter what keeps failing."""
        headers = _header_pairs(event.headers)
        attempts = self.settings.retry_attempts
        for attempt in range(1, attempts + 1):
            try:
                envelope = EventEnvelope.from_kafka(headers, event.value)
            except EnvelopeError as exc:
                await self.dead_letter(event, headers, exc, attempt)
                return
            try:
                await handler(envelope)
                return
            except PermanentFailure as exc:
                await self.dead_letter(event, headers, exc, attempt)
                return
            except Exception as exc:
                if attempt == attempts:
                    await self.dead_letter(event, headers, exc, attempt)
                    return
                delay = backoff(attempt, self.settings.retry_backoff_base_s, self.settings.retry_backoff_cap_s)
                log.warning(
                    "processing failed; retrying",
                    extra={
                        "event_id": envelope.id,
                        "product_id": envelope.subject,
                        "attempt": attempt,
                        "retry_in_s": round(delay, 3),
                        "error": repr(exc),
                    },
                )
                await asyncio.sleep(delay)

    async def dead_letter(
        self, event: EventT[Any], headers: Sequence[tuple[str, bytes]], error: BaseException, attempts: int
    ) -> None:
        """Publish the record as it was, plus why and where it failed; wait for the broker's acknowledgement."""
        message = event.message
        extra = {
            "dlq_processor": self.name,
            "dlq_error": f"{type(error).__name__}: {error}"[:2000],
            "dlq_attempts": str(attempts),
            "dlq_topic": message.topic,
            "dlq_partition": str(message.partition),
            "dlq_offset": str(message.offset),
            "dlq_time": str(time.time()),
        }
        sent = await self._dead_letters.send(
            key=message.key, value=message.value, headers=[*headers, *((k, v.encode()) for k, v in extra.items())]
        )
        await sent  # offsets are committed only after the dead letter is durable
        self.dead_lettered += 1
        log.error(
            "record dead-lettered",
            extra={
                "dlq_topic": self.dead_letters_topic.name,
                "source_offset": message.offset,
                "key": (message.key or b"").decode(errors="replace"),
                "error": extra["dlq_error"],
            },
        )

    def run(self) -> None:
        """Run the worker until SIGTERM/SIGINT: stop consuming, finish in-flight events, commit, exit."""
        worker = faust.Worker(
            self.app,
            loglevel=self.settings.log_level,
            logging_config=logging_config(self.name, self.settings.log_level),
            redirect_stdouts=False,
            quiet=True,  # no console spinner in logs
        )
        worker.execute_from_commandline()


def _set_fetch_max_wait(ms: int) -> None:
    """Make every aiokafka consumer of this process use `ms` as its fetch wait (faust offers no setting)."""
    base: Any = aiokafka.AIOKafkaConsumer
    if getattr(base, "catalog_fetch_max_wait_ms", None) == ms:
        return
    original = getattr(base, "catalog_original", base)

    class Consumer(original):  # type: ignore[misc,valid-type]
        catalog_fetch_max_wait_ms = ms
        catalog_original = original

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs["fetch_max_wait_ms"] = ms
            super().__init__(*args, **kwargs)

    aiokafka.AIOKafkaConsumer = Consumer  # faust's driver looks the class up on the module at each use


def backoff(attempt: int, base: float, cap: float) -> float:
    """Exponential backoff with full jitter: spreads retries of many records over time."""
    return random.uniform(0, min(cap, base * 2 ** (attempt - 1)))  # noqa: S311 - jitter, not security


def _header_pairs(headers: Any) -> list[tuple[str, bytes]]:
    pairs = headers.items() if isinstance(headers, Mapping) else (headers or [])
    return [(k, v if isinstance(v, bytes) else str(v).encode()) for k, v in pairs]
