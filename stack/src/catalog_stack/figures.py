"""The figures `catalog-stack status` prints, read from the services' own `/metrics`: the status line and a scrape
can never disagree, because they are the same numbers."""

import urllib.error
import urllib.request
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

LANES = ("interactive", "bulk")


def scrape(url: str, timeout_s: float = 2.0) -> list[Sample] | None:
    """Every sample a `/metrics` endpoint serves now; None when it does not answer."""
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:  # noqa: S310 - a loopback URL
            text = response.read().decode()
    except (OSError, urllib.error.URLError):
        return None
    return parse(text)


def parse(text: str) -> list[Sample]:
    return [sample for family in text_string_to_metric_families(text) for sample in family.samples]


def total(samples: Iterable[Sample], name: str, **labels: str) -> float:
    """The sum of the samples of `name` whose labels include `labels`."""
    return sum(s.value for s in samples if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()))


@dataclass(frozen=True)
class ProcessorFigures:
    ready: bool
    lag: dict[str, int]  # by lane
    records_per_second: float

    @classmethod
    def of(cls, samples: list[Sample], processor: str) -> "ProcessorFigures":
        return cls(
            ready=total(samples, "catalog_consumer_ready", processor=processor) >= 1,
            lag={lane: int(total(samples, "catalog_consumer_lag", processor=processor, lane=lane)) for lane in LANES},
            records_per_second=total(samples, "catalog_consumer_records_per_second", processor=processor),
        )

    def line(self) -> str:
        return f"{'ready' if self.ready else 'NOT READY'}, {self.figures()}"

    def figures(self) -> str:
        return f"lag {self.lag['interactive']} + bulk {self.lag['bulk']}, {self.records_per_second:.1f} records/s"


@dataclass(frozen=True)
class RelayFigures:
    backlog: dict[str, int]  # by lane
    oldest_age_s: float
    published: int
    group_lag: dict[str, dict[str, int]] = field(default_factory=dict)  # by group, then lane

    @classmethod
    def of(cls, samples: list[Sample]) -> "RelayFigures":
        group_lag: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(LANES, 0))
        for s in samples:
            if s.name == "catalog_consumer_group_lag":
                group_lag[s.labels["group"]][s.labels["lane"]] += int(s.value)
        return cls(
            backlog={lane: int(total(samples, "catalog_outbox_backlog", lane=lane)) for lane in LANES},
            oldest_age_s=max((s.value for s in samples if s.name == "catalog_outbox_oldest_age_seconds"), default=0.0),
            published=int(total(samples, "catalog_outbox_published_total")),
            group_lag=dict(group_lag),
        )

    def line(self) -> str:
        return (
            f"backlog {self.backlog['interactive']} + bulk {self.backlog['bulk']}, "
            f"oldest {self.oldest_age_s:.1f}s, published {self.published}"
        )

    def broker_lag(self, processor: str) -> str | None:
        """A processor's group lag as the broker records it (true whether or not the processor runs)."""
        lag = self.group_lag.get(f"catalog-{processor}")
        return None if lag is None else f"group lag {lag['interactive']} + bulk {lag['bulk']} (broker)"


@dataclass(frozen=True)
class HttpFigures:
    requests: int
    server_errors: int  # 5xx answers

    @classmethod
    def of(cls, samples: list[Sample], service: str) -> "HttpFigures":
        answered = [
            s for s in samples if s.name == "catalog_http_requests_total" and s.labels.get("service") == service
        ]
        return cls(
            requests=int(sum(s.value for s in answered)),
            server_errors=int(sum(s.value for s in answered if s.labels.get("status", "").startswith("5"))),
        )

    def line(self) -> str:
        return f"{self.requests} requests, {self.server_errors} answered 5xx"
