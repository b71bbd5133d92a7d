"""The platform's processes, started in the background with pid files and logs under the stack directory."""

import json
import os
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from catalog_stack.infra import Endpoints, StackConfig
from catalog_stack.processes import ManagedProcess


@dataclass(frozen=True)
class Service:
    name: str
    command: str  # a console script of the workspace
    health_url: str | None = None  # waited for at start (the HTTP services)
    health_port: int | None = None  # a processor's /healthz and /readyz
    extra_env: tuple[tuple[str, str], ...] = ()  # what this service alone gets
    args: tuple[str, ...] = ()  # after the command

    @property
    def ready_url(self) -> str | None:
        if self.health_port:
            return f"http://127.0.0.1:{self.health_port}/readyz"
        return self.health_url

    @property
    def metrics_url(self) -> str | None:
        """Where its Prometheus metrics are: the health port's `/metrics`, or the HTTP service's own."""
        if self.health_port:
            return f"http://127.0.0.1:{self.health_port}/metrics"
        return self.health_url.removesuffix("/readyz") + "/metrics" if self.health_url else None

    def env(self) -> dict[str, str]:
        """What this one service gets on top of the stack's environment."""
        if not self.health_port:
            return dict(self.extra_env)
        if self.name == "outbox-relay":
            return {"HEALTH_PORT": str(self.health_port)}
        # One instance per service here, so its name is a stable static-membership id: a restarted processor
        # takes its partitions back without waiting for the group to notice the old one is gone.
        return {"HEALTH_PORT": str(self.health_port), "PROCESSOR_INSTANCE_ID": f"{self.name}-0"}


def bin_path(command: str) -> str:
    """A console script next to the running interpreter (the workspace's virtual environment)."""
    return str(Path(sys.executable).parent / command)


# The services with a health port of their own, in the order of their ports after the search API's.
HEALTH_SERVICES = ("indexer", "enricher", "importer", "media", "outbox-relay", "webhooks")


def platform_services(api_port: int, search_port: int, health_ports: Sequence[int] | None = None) -> list[Service]:
    """Every process of the platform, in start order; health ports follow the search API's by default."""
    ports = list(health_ports or range(search_port + 1, search_port + 1 + len(HEALTH_SERVICES)))
    health = dict(zip(HEALTH_SERVICES, ports, strict=True))
    # The console's overview reads every processor's and the relay's health port.
    targets = ",".join(f"{name}=http://127.0.0.1:{port}" for name, port in health.items())
    return [
        Service(
            "product-api",
            "catalog-api",
            f"http://127.0.0.1:{api_port}/readyz",
            extra_env=(("PIPELINE_TARGETS", targets),),
        ),
        Service("outbox-relay", "catalog-relay", health_port=health["outbox-relay"]),
        Service("indexer", "catalog-indexer", health_port=health["indexer"]),
        # The search index's one writer, beside the indexer rather than in it (see docs/search-and-enrichment.md).
        Service("search-index", "catalog-search", args=("follow",)),
        Service("search-api", "catalog-search", f"http://127.0.0.1:{search_port}/readyz"),
        Service("enricher", "catalog-enricher", health_port=health["enricher"]),
        Service("importer", "catalog-importer", health_port=health["importer"]),
        Service("media", "catalog-media", health_port=health["media"]),
        Service("webhooks", "catalog-webhooks", health_port=health["webhooks"]),
    ]


def service_env(config: StackConfig, endpoints: Endpoints, extra_env: dict[str, str]) -> dict[str, str]:
    """The environment every service of a stack gets."""
    # The API stores uploads and the importer reads them: one object store per stack, whatever each one's cwd.
    defaults = {"OBJECT_STORE_DIR": str(config.root / "objects"), "SEARCH_INDEX_DIR": str(config.root / "search-index")}
    if os.environ.get("CATALOG_BROKER") == "tansu":
        defaults["RELAY_FENCING"] = "false"  # Tansu has no Kafka transactions
    env = {**defaults, **os.environ, **endpoints.env(), **extra_env}
    # Media URLs point at the stack's own API (which serves the local store under /media/) unless told otherwise.
    env.setdefault("MEDIA_BASE_URL", f"http://127.0.0.1:{env.get('API_PORT', '8000')}/media")
    # Likewise the schema URLs that producers stamp into ce_dataschema.
    env.setdefault("PUBLIC_BASE_URL", f"http://127.0.0.1:{env.get('API_PORT', '8000')}")
    return env


def service_process(config: StackConfig, name: str) -> ManagedProcess:
    return ManagedProcess(name, config.root / "run", config.root / "log")


def start_services(
    config: StackConfig, endpoints: Endpoints, services: list[Service], extra_env: dict[str, str]
) -> None:
    """Start each service under its supervisor; return once the HTTP services answer."""
    env = service_env(config, endpoints, extra_env)
    for service in services:
        start_service(config, service, env)
    for service in services:
        if service.health_url:
            wait_for_http(service.health_url, service_process(config, service.name))


def start_service(config: StackConfig, service: Service, env: dict[str, str]) -> None:
    service_process(config, service.name).start_supervised(
        [bin_path(service.command), *service.args], env={**env, **service.env()}
    )


def readiness(service: Service) -> dict[str, Any] | None:
    """What a service's readiness endpoint says now (None: it has none, or it does not answer)."""
    if not service.ready_url:
        return None
    try:
        with urllib.request.urlopen(service.ready_url, timeout=2) as response:  # noqa: S310 - loopback URL
            body = response.read()
    except urllib.error.HTTPError as error:  # 503: not ready, and the body says why
        body = error.read()
    except OSError:
        return None
    try:
        report = json.loads(body)
    except ValueError:
        return None
    return report if isinstance(report, dict) else None


def stop_services(config: StackConfig, names: list[str]) -> list[str]:
    return [n for n in reversed(names) if service_process(config, n).stop()]


def wait_for_http(url: str, process: ManagedProcess, timeout: float = 60.0) -> None:
    """Poll `url` until it answers 200; fail early if the process died (its log says why)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - loopback health URL
                if response.status == 200:
                    return
        except OSError:
            pass
        if process.pid() is None:
            raise RuntimeError(f"{process.name} exited during start; see {process.log_file}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"{process.name} not ready at {url} after {timeout}s; see {process.log_file}")
        time.sleep(0.1)
