"""The platform's processes, started in the background with pid files and logs under the stack directory."""

import os
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from catalog_stack.infra import Endpoints, StackConfig
from catalog_stack.processes import ManagedProcess


@dataclass(frozen=True)
class Service:
    name: str
    command: str  # a console script of the workspace
    health_url: str | None = None


def bin_path(command: str) -> str:
    """A console script next to the running interpreter (the workspace's virtual environment)."""
    return str(Path(sys.executable).parent / command)


def platform_services(api_port: int, search_port: int) -> list[Service]:
    """Every process of the platform, in start order."""
    return [
        Service("product-api", "catalog-api", f"http://127.0.0.1:{api_port}/readyz"),
        Service("outbox-relay", "catalog-relay"),
        Service("indexer", "catalog-indexer"),
        Service("search-api", "catalog-search", f"http://127.0.0.1:{search_port}/readyz"),
        Service("enricher", "catalog-enricher"),
        Service("importer", "catalog-importer"),
        Service("media", "catalog-media"),
    ]


def service_env(config: StackConfig, endpoints: Endpoints, extra_env: dict[str, str]) -> dict[str, str]:
    """The environment every service of a stack gets."""
    # The API stores uploads and the importer reads them: one object store per stack, whatever each one's cwd;
    # faust keeps its (unused) table data per stack too, not in the working directory.
    defaults = {"OBJECT_STORE_DIR": str(config.root / "objects"), "PROCESSOR_DATA_DIR": str(config.root / "faust")}
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
    env = service_env(config, endpoints, extra_env)
    for service in services:
        service_process(config, service.name).start([bin_path(service.command)], env=env)
    for service in services:
        if service.health_url:
            wait_for_http(service.health_url, service_process(config, service.name))


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
