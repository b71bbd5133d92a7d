"""Test session: real PostgreSQL and a real broker, started once under `.local/test` and stopped at the end.

`DATABASE_URL` / `KAFKA_BOOTSTRAP_SERVERS` (or `CATALOG_INFRA=containers`) point the session at other
infrastructure instead, exactly as for `make run`.
"""

import os
import secrets
import signal
import socket
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from catalog_api.entrypoints.http import create_app
from catalog_api.settings import ApiSettings
from catalog_kit.db import libpq_conninfo, make_engine, make_session_factory
from catalog_stack.infra import Endpoints, StackConfig, migrate, start_infrastructure, stop_infrastructure
from catalog_stack.processes import ManagedProcess
from catalog_stack.services import (
    HEALTH_SERVICES,
    Service,
    platform_services,
    service_env,
    service_process,
    start_service,
    start_services,
    stop_services,
)
from tests.images import ImageServer, image_server
from tests.support import wait_until
from tests.webhook_receiver import WebhookReceiver, webhook_receiver

ROOT = Path(__file__).resolve().parent.parent
# The session's API keys, one per kind of caller (API_KEYS entries: `key` or `key=scope+scope`).
WRITE_KEY = "test-write-key"  # a bare entry: catalog:read + catalog:write, like a supplier's key
OTHER_WRITE_KEY = "test-other-writer-key"  # another supplier: must not see or touch WRITE_KEY's jobs
READ_KEY = "test-read-key"
ADMIN_KEY = "test-admin-key"
API_KEYS = f"{WRITE_KEY},{OTHER_WRITE_KEY},{READ_KEY}=catalog:read,{ADMIN_KEY}=admin"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class System:
    """The running services: their ports, and how to stop or restart one of them."""

    api: int
    search: int
    health_ports: tuple[int, ...]
    config: StackConfig
    env: dict[str, str]

    def process(self, name: str) -> ManagedProcess:
        return service_process(self.config, name)

    def wait_until_consuming(self, timeout: float = 90) -> None:
        """Block until the stream processors joined their groups: a fresh product is searchable and enriched."""
        token = f"warmup{uuid.uuid4().hex[:12]}"
        headers = {"Authorization": f"Bearer {WRITE_KEY}"}
        body = {"sku": f"W-{token}", "name": f"Warm-up {token}", "price": "1.00", "currency": "EUR"}
        assert httpx.post(f"{self.api_url}/products", json=body, headers=headers).status_code == 201

        def enriched() -> bool:
            hits = httpx.get(f"{self.search_url}/search", params={"q": token}).json()["hits"]
            return bool(hits) and hits[0]["enrichment_status"] == "complete"

        wait_until(enriched, timeout=timeout, interval=0.2)

    def service(self, name: str) -> Service:
        [service] = [s for s in platform_services(self.api, self.search, self.health_ports) if s.name == name]
        return service

    def restart(self, name: str, **env: str) -> None:
        """Stop a service and start it again (supervised), with `env` added to its environment."""
        self.process(name).stop()
        start_service(self.config, self.service(name), {**self.env, **env})

    def kill(self, name: str) -> int:
        """SIGKILL the service itself (not its supervisor, which starts it again); returns the killed pid."""
        pid = wait_until(self.process(name).child_pid, timeout=30)
        os.kill(pid, signal.SIGKILL)
        return pid

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api}"

    @property
    def search_url(self) -> str:
        return f"http://127.0.0.1:{self.search}"


@pytest.fixture(scope="session")
def stack_config() -> StackConfig:
    return StackConfig.from_env(ROOT / ".local" / "test", pg_port=55433, broker_port=19093)


@pytest.fixture(scope="session")
def broker_kind(stack_config: StackConfig) -> str:
    """The session's broker: `kafka`, `tansu`, or `external` (KAFKA_BOOTSTRAP_SERVERS or containers)."""
    if os.environ.get("KAFKA_BOOTSTRAP_SERVERS") or stack_config.mode == "containers":
        return "external"
    return stack_config.broker_kind


@pytest.fixture(scope="session")
def endpoints(stack_config: StackConfig) -> Iterator[Endpoints]:
    # Tests read topics from their beginning: every session starts with empty ones, as on a fresh machine, so
    # what earlier sessions left does not slow them down.
    stack_config.broker.clear()
    endpoints = start_infrastructure(stack_config)
    try:
        yield endpoints
    finally:
        stop_infrastructure(stack_config)


@pytest.fixture(scope="session")
def engine(endpoints: Endpoints) -> Iterator[Engine]:
    engine = make_engine(endpoints.database_url)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def sessions(engine: Engine) -> sessionmaker[Session]:
    return make_session_factory(engine)


@pytest.fixture(scope="session")
def api_settings(endpoints: Endpoints) -> ApiSettings:
    return ApiSettings(
        database_url=endpoints.database_url,
        kafka_bootstrap_servers=endpoints.kafka_bootstrap_servers,
        api_keys=API_KEYS,
        max_body_bytes=64 * 1024,
    )


@pytest.fixture(scope="session")
def api(api_settings: ApiSettings, sessions: sessionmaker[Session]) -> Iterator[TestClient]:
    """The API in-process over the real database (no broker on the request path, so none needed here)."""
    with TestClient(create_app(api_settings, sessions), headers={"Authorization": f"Bearer {WRITE_KEY}"}) as client:
        yield client


@pytest.fixture
def fresh_database(endpoints: Endpoints) -> Iterator[str]:
    """A new, migrated catalog database of its own (advisory locks and outbox rows are per database)."""
    name = f"catalog_t_{secrets.token_hex(4)}"
    admin = libpq_conninfo(str(make_url(endpoints.database_url).set(database="postgres")))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = make_url(endpoints.database_url).set(database=name).render_as_string(hide_password=False)
    migrate(url)
    try:
        yield url
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def image_host() -> Iterator[ImageServer]:
    """The one image server on loopback the running system may fetch from (its address alone is allowlisted)."""
    with image_server() as server:
        yield server


@pytest.fixture(scope="session")
def webhook_host() -> Iterator[WebhookReceiver]:
    """The one webhook receiver on loopback the running system may deliver to (allowlisted with the image server)."""
    with webhook_receiver() as receiver:
        yield receiver


@pytest.fixture(scope="session")
def running_system(
    stack_config: StackConfig, endpoints: Endpoints, image_host: ImageServer, webhook_host: WebhookReceiver
) -> Iterator["System"]:
    """Every service of the platform as a real process."""
    api, search = free_port(), free_port()
    health_ports = tuple(free_port() for _ in HEALTH_SERVICES)
    services = platform_services(api, search, health_ports)
    env = {
        "API_KEYS": API_KEYS,
        "API_PORT": str(api),
        "SEARCH_PORT": str(search),
        # Exactly the tests' image server, whatever the shell says: every other internal address stays refused.
        "OUTBOUND_ALLOW": f"{image_host.address},{webhook_host.address}",
        "OUTBOUND_PORTS": "80,443",
        # Webhook retries in seconds, not minutes.
        "WEBHOOK_BACKOFF_BASE_S": "0.5",
        "WEBHOOK_BACKOFF_CAP_S": "2",
        "WEBHOOK_MAX_ATTEMPTS": "5",
        "WEBHOOK_POLL_INTERVAL_S": "0.2",
        "WEBHOOK_LEASE_S": "15",
    }
    system = System(api, search, health_ports, stack_config, service_env(stack_config, endpoints, env))
    try:
        start_services(stack_config, endpoints, services, env)
        system.wait_until_consuming()
        yield system
    finally:
        stop_services(stack_config, [s.name for s in services])


@pytest.fixture
def unique() -> str:
    """A short unique token for SKUs and names, so tests never collide and can run in any order."""
    return uuid.uuid4().hex[:10]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Unit tests first: they fail fastest.
    items.sort(key=lambda item: 0 if "/unit/" in str(item.path) else 1)


os.environ.setdefault("LOG_LEVEL", "WARNING")
