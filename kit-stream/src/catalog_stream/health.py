"""Health and readiness of a processor that tell the truth: alive is not the same as making progress.

`/healthz` answers while the process and its loop live. `/readyz` answers 200 only when the processor has its
partitions, no infrastructure outage holds it, and it is not stalled: a stall is lag with no progress for
`stall_after_s`, or interactive-lane lag above `max_ready_lag` that is not shrinking. A bulk-lane backlog (a large
import being worked off while interactive records go first) is reported, not a fault, as long as it progresses.
"""

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from catalog_kit.metrics import CONTENT_TYPE, RateMeter, exposition
from catalog_schemas.topics import Lane, lane_of
from catalog_stream.metrics import ConsumerMetrics

log = logging.getLogger(__name__)


@dataclass
class ConsumerHealth:
    """What the consume loop reports as it goes; read by the health endpoints (same event loop, no locks)."""

    name: str
    stall_after_s: float
    max_ready_lag: int
    started: float = field(default_factory=time.monotonic)
    joined: bool = False
    partitions: set[tuple[str, int]] = field(default_factory=set)
    last_poll: float = field(default_factory=time.monotonic)
    last_progress: float = field(default_factory=time.monotonic)
    lag: dict[tuple[str, int], int] = field(default_factory=dict)
    lag_before: int | None = None  # interactive lag one sampling period ago
    outage: str | None = None
    outage_since: float | None = None
    processed: int = 0
    dead_lettered: int = 0
    stalled_logged: bool = False
    rate: RateMeter = field(default_factory=RateMeter)  # records per second over the last lag-sampling period
    # A processor's own readiness checks beyond its consumer (e.g. work it keeps in the database): a reason, or None.
    checks: list[Callable[[], str | None]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.metrics = ConsumerMetrics(self.name, ready=lambda: not self.problems())

    def assigned(self, partitions: set[tuple[str, int]]) -> None:
        self.joined = True
        self.partitions = set(partitions)
        self.lag = {tp: lag for tp, lag in self.lag.items() if tp in self.partitions}
        self.metrics.lag(self.lag)

    def progressed(self, records: int) -> None:
        now = time.monotonic()
        self.processed += records
        self.rate.add(records)
        self.last_progress = now
        self.last_poll = now

    def polled(self) -> None:
        self.last_poll = time.monotonic()

    def infrastructure_down(self, reason: str) -> None:
        if self.outage is None:
            self.outage_since = time.monotonic()
            log.warning("infrastructure unavailable; waiting it out", extra={"processor": self.name, "error": reason})
        self.outage = reason

    def infrastructure_back(self) -> None:
        if self.outage is not None:
            log.info(
                "infrastructure back",
                extra={"processor": self.name, "outage_s": round(time.monotonic() - (self.outage_since or 0), 1)},
            )
        self.outage = self.outage_since = None

    def sample_lag(self, lag: dict[tuple[str, int], int]) -> None:
        self.lag_before = self.lane_lag(Lane.INTERACTIVE)
        self.lag = lag
        self.metrics.lag(lag)
        self.metrics.records_per_second.set(self.rate.sample())

    def dead_letter_published(self) -> None:
        self.dead_lettered += 1
        self.metrics.dead_letters.inc()

    @property
    def total_lag(self) -> int:
        return sum(self.lag.values())

    def lane_lag(self, lane: Lane) -> int:
        return sum(lag for (topic, _), lag in self.lag.items() if lane_of(topic) is lane)

    def problems(self, now: float | None = None) -> list[str]:
        """Why the processor is not ready; empty when it is."""
        now = time.monotonic() if now is None else now
        problems = []
        if not self.joined:
            problems.append("not yet a member of its consumer group")
        if self.outage is not None:
            problems.append(f"infrastructure unavailable: {self.outage}")
        idle_s = now - self.last_progress
        if self.total_lag > 0 and idle_s > self.stall_after_s:
            problems.append(f"stalled: lag {self.total_lag} and no progress for {idle_s:.0f}s")
        elif (lag := self.lane_lag(Lane.INTERACTIVE)) > self.max_ready_lag and (
            self.lag_before is None or lag >= self.lag_before
        ):
            problems.append(f"interactive lag {lag} above {self.max_ready_lag} and not shrinking")
        problems.extend(problem for check in self.checks if (problem := check()))
        return problems

    def report(self) -> dict[str, Any]:
        now = time.monotonic()
        return {
            "processor": self.name,
            "ready": not self.problems(now),
            "problems": self.problems(now),
            "partitions": sorted(f"{topic}[{partition}]" for topic, partition in self.partitions),
            "lag": self.total_lag,
            "lag_by_lane": {lane.value: self.lane_lag(lane) for lane in Lane},
            "lag_by_partition": {f"{t}[{p}]": lag for (t, p), lag in sorted(self.lag.items())},
            "processed": self.processed,
            "records_per_second": round(self.rate.rate, 1),
            "dead_lettered": self.dead_lettered,
            "seconds_since_progress": round(now - self.last_progress, 1),
            "uptime_s": round(now - self.started, 1),
        }

    def log_if_stalled(self) -> None:
        """Say so once when a stall begins, and once when it ends."""
        stalled = any(p.startswith("stalled") for p in self.problems())
        if stalled and not self.stalled_logged:
            log.error("processor stalled", extra=self.report())
        elif not stalled and self.stalled_logged:
            log.info("processor progressing again", extra={"processor": self.name})
        self.stalled_logged = stalled


class HealthServer:
    """`/healthz`, `/readyz` and `/metrics` on a small HTTP port next to the consumer (127.0.0.1 unless configured)."""

    def __init__(self, health: ConsumerHealth, host: str, port: int, loop_timeout_s: float) -> None:
        self.health, self.host, self.port, self.loop_timeout_s = health, host, port, loop_timeout_s
        self.extra_routes: list[web.RouteDef] = []
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()
        routes = [
            web.get("/healthz", self._healthz),
            web.get("/readyz", self._readyz),
            web.get("/metrics", self._metrics),
        ]
        app.add_routes([*routes, *self.extra_routes])
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, self.host, self.port).start()

    @property
    def bound_port(self) -> int | None:
        """The port actually listened on (the configured one, or the one the OS chose for 0)."""
        if self._runner is None or not self._runner.addresses:
            return None
        return int(self._runner.addresses[0][1])

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _healthz(self, _: web.Request) -> web.Response:
        # Alive means the consume loop still turns (a blocked event loop would not answer at all).
        quiet_s = time.monotonic() - max(self.health.last_poll, self.health.last_progress)
        alive = quiet_s < self.loop_timeout_s or self.health.outage is not None
        body = {"status": "ok" if alive else "loop not turning", "seconds_since_poll": round(quiet_s, 1)}
        return web.json_response(body, status=200 if alive else 503)

    async def _readyz(self, _: web.Request) -> web.Response:
        report = self.health.report()
        return web.json_response(report, status=200 if report["ready"] else 503)

    async def _metrics(self, _: web.Request) -> web.Response:
        # Served on the consume loop's own event loop: the metrics read the loop's state without locks.
        return web.Response(body=exposition(), headers={"Content-Type": CONTENT_TYPE})


async def sleep_until(stop: asyncio.Event, seconds: float) -> bool:
    """Sleep up to `seconds`, returning early (True) when `stop` is set."""
    try:
        await asyncio.wait_for(stop.wait(), timeout=seconds)
    except TimeoutError:
        return False
    return True
