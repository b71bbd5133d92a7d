"""The pipeline overview (pure): where the processors' health ports are, and what their reports and metrics say.

Each figure comes from the processors' Prometheus metrics when they publish it, else from their `/readyz`
report; a figure neither has is None (shown as "—").
"""

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

LANES = ("interactive", "bulk")


class InvalidTargets(ValueError):
    """`PIPELINE_TARGETS` cannot be read."""


def parse_targets(text: str) -> dict[str, str]:
    """`name=http://host:port,...` → {name: base URL}."""
    targets: dict[str, str] = {}
    for position, entry in enumerate((e.strip() for e in text.split(",")), start=1):
        if not entry:
            continue
        name, separator, url = entry.partition("=")
        if not separator or not name.strip() or not url.strip().startswith(("http://", "https://")):
            raise InvalidTargets(f"PIPELINE_TARGETS entry {position}: expected name=http://host:port")
        targets[name.strip()] = url.strip().rstrip("/")
    return targets


@dataclass(frozen=True)
class Sample:
    name: str
    labels: Mapping[str, str]
    value: float


@dataclass
class TargetReport:
    """What one target answered: its `/readyz` report and its metric samples (None where it did not answer)."""

    name: str
    url: str
    readyz: dict[str, Any] | None = None
    samples: list[Sample] | None = None
    error: str | None = None

    def values(self, metric: str, **labels: str) -> list[Sample]:
        return [
            s for s in self.samples or () if s.name == metric and all(s.labels.get(k) == v for k, v in labels.items())
        ]

    def total(self, metric: str, **labels: str) -> float | None:
        found = self.values(metric, **labels)
        return sum(s.value for s in found) if found else None


def histogram_quantile(q: float, buckets: Iterable[tuple[float, float]]) -> float | None:
    """The q-quantile estimated from cumulative (upper bound, count) buckets, as Prometheus does (linear within
    the bucket); None without observations."""
    ordered = sorted(buckets)
    if not ordered or ordered[-1][1] <= 0:
        return None
    rank = q * ordered[-1][1]
    lower_bound, lower_count = 0.0, 0.0
    for bound, count in ordered:
        if count >= rank:
            if math.isinf(bound):
                return lower_bound
            if count == lower_count:
                return bound
            return lower_bound + (bound - lower_bound) * (rank - lower_count) / (count - lower_count)
        lower_bound, lower_count = bound, count
    return lower_bound


@dataclass
class ProcessorRow:
    name: str
    reachable: bool
    ready: bool | None
    problems: list[str]
    lag: dict[str, float | None] = field(default_factory=dict)  # by lane
    records_per_second: float | None = None
    processed: float | None = None
    dead_letters: float | None = None


@dataclass
class Overview:
    processors: list[ProcessorRow]
    relay: TargetReport | None
    backlog: dict[str, float | None]  # by lane (None: unknown)
    oldest_age_s: dict[str, float | None]
    freshness: dict[str, float | None]  # p50, p99 in seconds


def overview(reports: list[TargetReport]) -> Overview:
    relay = next((r for r in reports if r.name in ("outbox-relay", "relay")), None)
    rows = []
    for report in reports:
        if report is relay:
            continue
        ready = report.readyz.get("ready") if report.readyz else None
        row = ProcessorRow(
            report.name,
            reachable=report.readyz is not None,
            ready=bool(ready) if ready is not None else None,
            problems=list((report.readyz or {}).get("problems") or ([report.error] if report.error else [])),
        )
        for lane in LANES:
            # The relay reads every group's lag from the broker, so it shows even while a processor is down.
            group_lag = (
                relay.total("catalog_consumer_group_lag", group=f"catalog-{report.name}", lane=lane) if relay else None
            )
            own = report.total("catalog_consumer_lag", lane=lane)
            by_lane = (report.readyz or {}).get("lag_by_lane") or {}
            row.lag[lane] = next((v for v in (group_lag, own, by_lane.get(lane)) if v is not None), None)
        row.records_per_second = report.total("catalog_consumer_records_per_second")
        processed = report.total("catalog_consumer_records_total")
        row.processed = processed if processed is not None else (report.readyz or {}).get("processed")
        dead = report.total("catalog_consumer_dead_letters_total")
        row.dead_letters = dead if dead is not None else (report.readyz or {}).get("dead_lettered")
        rows.append(row)
    backlog: dict[str, float | None] = {}
    oldest: dict[str, float | None] = {}
    for lane in LANES:
        backlog[lane] = relay.total("catalog_outbox_backlog", lane=lane) if relay else None
        ages = relay.values("catalog_outbox_oldest_age_seconds", lane=lane) if relay else []
        oldest[lane] = max(s.value for s in ages) if ages else None
    if relay and relay.readyz and all(v is None for v in backlog.values()):
        backlog["all"] = relay.readyz.get("backlog")
        oldest["all"] = relay.readyz.get("oldest_unpublished_s")
    return Overview(rows, relay, backlog, oldest, _freshness(reports))


def _freshness(reports: list[TargetReport]) -> dict[str, float | None]:
    buckets: dict[float, float] = {}
    for report in reports:
        for sample in report.values("catalog_index_freshness_seconds_bucket"):
            bound = float(sample.labels.get("le", "inf").replace("+Inf", "inf"))
            buckets[bound] = buckets.get(bound, 0.0) + sample.value
    pairs = list(buckets.items())
    return {"p50": histogram_quantile(0.5, pairs), "p99": histogram_quantile(0.99, pairs)}
