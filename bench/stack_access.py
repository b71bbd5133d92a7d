"""What the stack benchmarks share: find the `catalog-stack run` stack, its key and database, stop and start one of
its services (with the environment the stack gave it), and poll its processors' readiness reports."""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import psycopg
from sqlalchemy.engine import make_url

from catalog_kit.db import libpq_conninfo, masked_url
from catalog_stack.infra import StackConfig
from catalog_stack.processes import ManagedProcess
from catalog_stack.services import HEALTH_SERVICES, bin_path, platform_services

REPO = Path(__file__).resolve().parents[1]
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}


def command_of(name: str) -> list[str]:
    """How `catalog-stack run` starts the service `name` (ports do not change the command)."""
    [service] = [s for s in platform_services(8000, 8001) if s.name == name]
    return [bin_path(service.command), *service.args]


@dataclass(frozen=True)
class ScratchDatabase:
    """A database of its own for a benchmark, on the stack's PostgreSQL server; `create()`, then `drop()`."""

    name: str
    url: str
    admin: str  # libpq conninfo of the server's maintenance database

    @property
    def conninfo(self) -> str:
        return libpq_conninfo(self.url)

    def create(self) -> None:
        with psycopg.connect(self.admin, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{self.name}"')

    def drop(self) -> None:
        with psycopg.connect(self.admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')


def scratch_database(prefix: str) -> ScratchDatabase:
    """`<prefix>_<run>` on the server of DATABASE_URL, else the stack's local PostgreSQL; loopback only."""
    config = StackConfig.from_env(REPO / ".local")
    server = make_url(os.environ.get("DATABASE_URL") or config.postgres.url())
    if server.host not in LOOPBACK_HOSTS:
        raise SystemExit(f"refusing a non-loopback database: {masked_url(server.render_as_string(False))}")
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    return ScratchDatabase(
        name,
        server.set(database=name).render_as_string(hide_password=False),
        libpq_conninfo(server.set(database="postgres").render_as_string(hide_password=False)),
    )


@dataclass(frozen=True)
class Stack:
    """A running stack as the benchmarks see it."""

    config: StackConfig
    api_url: str
    search_url: str
    key: str
    database_url: str
    bootstrap: str

    @property
    def conninfo(self) -> str:
        return libpq_conninfo(self.database_url)

    def service(self, name: str) -> StackService:
        return StackService.of_stack(self, name)

    def readiness(self, name: str) -> dict[str, Any]:
        """A processor's /readyz report (lag by lane, problems); {} when it does not answer."""
        # Health ports follow the search API's, in HEALTH_SERVICES order (as `catalog-stack run` assigns them).
        port = (urlsplit(self.search_url).port or 8001) + 1 + HEALTH_SERVICES.index(name)
        try:
            report: dict[str, Any] = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).json()
        except (httpx.HTTPError, ValueError):
            return {}
        return report


def find_stack(api_url: str, search_url: str) -> Stack:
    """The stack of CATALOG_STACK_DIR (or `.local`), refusing anything but loopback; exits when it is not up."""
    for url in (api_url, search_url):
        if urlsplit(url).hostname not in LOOPBACK_HOSTS:
            raise SystemExit(f"refusing a non-loopback target: {url}")
    config = StackConfig.from_env(REPO / ".local")
    database_url = os.environ.get("DATABASE_URL") or config.postgres.url()
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS") or config.broker.bootstrap_servers
    if make_url(database_url).host not in LOOPBACK_HOSTS:
        raise SystemExit(f"refusing a non-loopback database: {masked_url(database_url)}")
    key_file = config.root / "api-key"
    try:
        # API_KEYS entries are `key` or `key=scopes`: the first entry's key.
        key = os.environ.get("API_KEYS", "").split(",")[0].partition("=")[0] or key_file.read_text().strip()
    except OSError as exc:
        raise SystemExit(f"no write key at {key_file} ({exc}); start the stack with `catalog-stack run`") from exc
    for url in (f"{api_url}/readyz", f"{search_url}/readyz"):
        try:
            ready = httpx.get(url, timeout=5)
        except httpx.HTTPError as exc:
            raise SystemExit(f"{url} does not answer ({exc}); start the stack first") from exc
        if ready.status_code != 200:
            raise SystemExit(f"{url} is not ready: {ready.status_code} {ready.text}")
    return Stack(config, api_url, search_url, key, database_url, bootstrap)


@dataclass
class StackService:
    """One of the stack's processes, and the environment and directory to start it again with."""

    name: str
    process: ManagedProcess
    env: dict[str, str]
    cwd: Path

    @classmethod
    def of_stack(cls, stack: Stack, name: str) -> StackService:
        root = stack.config.root
        process = ManagedProcess(name, root / "run", root / "log")
        pid = process.pid()
        if pid is None:
            raise SystemExit(f"the stack's {name} is not running ({process.pid_file}); start the stack first")
        try:
            raw = Path(f"/proc/{pid}/environ").read_bytes()
            env = dict(item.split("=", 1) for item in raw.decode().split("\0") if "=" in item)
            cwd = Path(os.readlink(f"/proc/{pid}/cwd"))
        except OSError:
            env = {
                "OBJECT_STORE_DIR": str(root / "objects"),
                **os.environ,
                "DATABASE_URL": stack.database_url,
                "KAFKA_BOOTSTRAP_SERVERS": stack.bootstrap,
            }
            cwd = REPO
        return cls(name, process, env, cwd)

    def stop(self) -> None:
        self.process.stop()

    def start(self) -> int:
        """Start it supervised again, as `catalog-stack run` does; returns the supervisor's pid."""
        return self.process.start_supervised(command_of(self.name), env=self.env, cwd=self.cwd)

    def running(self) -> bool:
        return self.process.pid() is not None
