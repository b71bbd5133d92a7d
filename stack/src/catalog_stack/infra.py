"""PostgreSQL and the broker in one of three modes, then migrations and topics.

- external: `DATABASE_URL` / `KAFKA_BOOTSTRAP_SERVERS` are given; nothing is started.
- local (default): a project-local PostgreSQL cluster and a local broker on 127.0.0.1: Apache Kafka, or Tansu with
  `CATALOG_BROKER=tansu` (see broker.py).
- containers: PostgreSQL and Apache Kafka (KRaft) images through testcontainers, where a Docker engine runs.

Each component is chosen on its own: `DATABASE_URL` alone uses that database and a local broker.
"""

import json
import logging
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from catalog_kit.kafka import ensure_topics
from catalog_kit.settings import CatalogSettings
from catalog_schemas import TOPICS
from catalog_stack.broker import LocalBroker, local_broker
from catalog_stack.postgres import LocalPostgres

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StackConfig:
    """Where local state lives and which ports the local servers use."""

    root: Path
    pg_port: int = 55432
    broker_port: int = 19092
    mode: str = "local"  # or "containers"; external is decided per component by the URLs
    broker_kind: str = "kafka"  # or "tansu"

    @classmethod
    def from_env(cls, root: Path, pg_port: int = 55432, broker_port: int = 19092) -> "StackConfig":
        return cls(
            # An empty CATALOG_STACK_DIR means the default, not the current directory (a stack's data in a checkout).
            root=Path(os.environ.get("CATALOG_STACK_DIR") or root).resolve(),
            pg_port=int(os.environ.get("CATALOG_PG_PORT", pg_port)),
            broker_port=int(os.environ.get("CATALOG_BROKER_PORT", broker_port)),
            mode=os.environ.get("CATALOG_INFRA", "local"),
            broker_kind=os.environ.get("CATALOG_BROKER", "kafka"),
        )

    @property
    def postgres(self) -> LocalPostgres:
        return LocalPostgres(self.root, self.pg_port)

    @property
    def broker(self) -> LocalBroker:
        return local_broker(self.broker_kind, self.root, self.broker_port)

    @property
    def containers_file(self) -> Path:
        return self.root / "run" / "containers.json"


@dataclass(frozen=True)
class Endpoints:
    """Where the services find their infrastructure; exported to them as environment variables."""

    database_url: str
    kafka_bootstrap_servers: str

    def env(self) -> dict[str, str]:
        return {"DATABASE_URL": self.database_url, "KAFKA_BOOTSTRAP_SERVERS": self.kafka_bootstrap_servers}


def start_infrastructure(config: StackConfig) -> Endpoints:
    """Provide PostgreSQL and the broker (starting what is not external) and bring schema and topics up to date."""
    database_url = os.environ.get("DATABASE_URL")
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if config.mode == "containers" and not (database_url and bootstrap):
        database_url, bootstrap = _start_containers(config, database_url, bootstrap)
    if not database_url:
        config.postgres.start()
        database_url = config.postgres.url()
    if not bootstrap:
        config.broker.start()
        bootstrap = config.broker.bootstrap_servers
    endpoints = Endpoints(database_url, bootstrap)
    prepare(endpoints)
    return endpoints


def migrate(database_url: str) -> None:
    """Run every owner's migration chain, in the order their foreign keys need (the core's tables first)."""
    from catalog_api.adapters import migrations as product_api
    from catalog_core.adapters import migrations as core
    from catalog_enricher.adapters import migrations as enricher
    from catalog_indexer.adapters import migrations as indexer
    from catalog_media.adapters import migrations as media

    for chain in (core, product_api, enricher, media, indexer):
        chain.upgrade(database_url)


def prepare(endpoints: Endpoints) -> None:
    """Run every owner's migrations and create the registered topics."""
    migrate(endpoints.database_url)
    settings = CatalogSettings(
        database_url=endpoints.database_url, kafka_bootstrap_servers=endpoints.kafka_bootstrap_servers
    )
    ensure_topics(settings, TOPICS)


def stop_infrastructure(config: StackConfig) -> list[str]:
    """Stop what this stack started (found by pid files and data dirs); returns what was stopped."""
    stopped = []
    if config.broker.stop():
        stopped.append("broker")
    if config.postgres.stop():
        stopped.append("postgres")
    if config.containers_file.exists():
        ids = json.loads(config.containers_file.read_text())
        subprocess.run(["docker", "rm", "-f", *ids], check=False, capture_output=True)
        config.containers_file.unlink()
        stopped.append("containers")
    return stopped


def _start_containers(config: StackConfig, database_url: str | None, bootstrap: str | None) -> tuple[str, str]:
    """Start PostgreSQL and Kafka images; their ids are recorded so `stop` removes them (no reaper container)."""
    os.environ.setdefault("TESTCONTAINERS_RYUK_DISABLED", "true")
    from testcontainers.kafka import KafkaContainer
    from testcontainers.postgres import PostgresContainer

    ids: list[str] = []
    if not database_url:
        pg = PostgresContainer("postgres:16", driver="psycopg", dbname="catalog").start()
        ids.append(pg.get_wrapped_container().id)
        database_url = pg.get_connection_url()
    if not bootstrap:
        kafka = KafkaContainer("confluentinc/cp-kafka:7.7.1").with_kraft().start()
        ids.append(kafka.get_wrapped_container().id)
        bootstrap = kafka.get_bootstrap_server()
    config.containers_file.parent.mkdir(parents=True, exist_ok=True)
    config.containers_file.write_text(json.dumps(ids))
    return database_url, bootstrap
