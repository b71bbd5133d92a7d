"""`catalog-stack up|run|stop|status`: the local system for `make run`, `make stop` and humans."""

import argparse
import logging
import os
import secrets
import socket
import sys
from pathlib import Path

from catalog_kit.db import masked_url
from catalog_kit.jsonlog import configure_logging
from catalog_stack.figures import HttpFigures, ProcessorFigures, RelayFigures, scrape
from catalog_stack.infra import Endpoints, StackConfig, start_infrastructure, stop_infrastructure
from catalog_stack.processes import ManagedProcess
from catalog_stack.services import (
    Service,
    platform_services,
    readiness,
    service_process,
    start_services,
    stop_services,
)

API_PORT = int(os.environ.get("API_PORT", "8000"))
SEARCH_PORT = int(os.environ.get("SEARCH_PORT", "8001"))


def _config() -> StackConfig:
    return StackConfig.from_env(Path.cwd() / ".local")


def dev_api_keys(config: StackConfig) -> tuple[str, str, str]:
    """`API_KEYS` for the stack's API, which key that is, and a shell word that reads it.

    API_KEYS if set; else a development key with every scope (admin), generated once and kept under the stack dir.
    The key itself is never printed: terminals are scrolled back, logged and shared.
    """
    if os.environ.get("API_KEYS"):
        return os.environ["API_KEYS"], "the keys in API_KEYS", "<a key from API_KEYS>"
    key_file = config.root / "api-key"
    if not key_file.exists():
        config.root.mkdir(parents=True, exist_ok=True)
        key_file.write_text(f"dev-{secrets.token_urlsafe(18)}")
        key_file.chmod(0o600)
    return f"{key_file.read_text().strip()}=admin", f"{key_file} (admin: every scope)", f"$(cat {key_file})"


def up() -> None:
    endpoints = start_infrastructure(_config())
    print(connection_lines(endpoints.database_url, endpoints.kafka_bootstrap_servers))


def connection_lines(database_url: str, bootstrap_servers: str) -> str:
    """What `up` prints: where the infrastructure is, the database password masked."""
    return f"DATABASE_URL={masked_url(database_url)}\nKAFKA_BOOTSTRAP_SERVERS={bootstrap_servers}"


class PortInUse(Exception):
    """A port the stack needs is held by a program the stack did not start."""


def port_is_free(port: int) -> bool:
    with socket.socket() as probe:
        # As the servers themselves do: connections of a just-stopped server in TIME_WAIT are no clash.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def check_ports(config: StackConfig) -> None:
    """Before starting anything: each port the stack would open is free, or held by this stack already."""
    wanted: list[tuple[int, str, bool]] = []  # port, the variable that moves it, whether ours holds it now
    if not os.environ.get("DATABASE_URL"):
        wanted.append((config.pg_port, "CATALOG_PG_PORT", (config.postgres.data_dir / "postmaster.pid").exists()))
    if not os.environ.get("KAFKA_BOOTSTRAP_SERVERS"):
        wanted.append((config.broker_port, "CATALOG_BROKER_PORT", config.broker.process.pid() is not None))
    for service in platform_services(API_PORT, SEARCH_PORT):
        ours = service_process(config, service.name).pid() is not None
        if service.name == "product-api":
            wanted.append((API_PORT, "API_PORT", ours))
        elif service.name == "search-api":
            wanted.append((SEARCH_PORT, "SEARCH_PORT", ours))
        elif service.health_port:
            wanted.append((service.health_port, "SEARCH_PORT (the health ports follow it)", ours))
    for port, variable, ours in wanted:
        if not ours and not port_is_free(port):
            raise PortInUse(f"port {port} on 127.0.0.1 is in use by another program; set {variable} to a free port")


def run() -> None:
    config = _config()
    check_ports(config)  # before anything starts: a clash leaves nothing half up
    endpoints = start_infrastructure(config)
    api_keys, key_where, key_shell = dev_api_keys(config)
    services = platform_services(API_PORT, SEARCH_PORT)
    start_services(
        config, endpoints, services, {"API_KEYS": api_keys, "API_PORT": str(API_PORT), "SEARCH_PORT": str(SEARCH_PORT)}
    )
    print(banner(config, endpoints, key_where, key_shell))


def banner(config: StackConfig, endpoints: Endpoints, key_where: str, key_shell: str) -> str:
    """What `run` prints: where everything is — the database password masked, the key only named."""
    base = f"http://127.0.0.1:{API_PORT}"
    search = f"http://127.0.0.1:{SEARCH_PORT}"
    return f"""
Catalog platform is running.
  Product API   {base}            (OpenAPI UI: {base}/docs, health: {base}/healthz)
  Search API    {search}/search?q=linen   (OpenAPI UI: {search}/docs)
  Console       {base}/console   (log in with the API key below)
  API key       {key_where}
  PostgreSQL    {masked_url(endpoints.database_url)}
  Kafka         {endpoints.kafka_bootstrap_servers}   (topic catalog.product.v1)
  Health        processors and relay on 127.0.0.1:{SEARCH_PORT + 1}-{SEARCH_PORT + 5} (/healthz, /readyz, /metrics)
  Metrics       {base}/metrics, {search}/metrics   (docs/metrics.md)
  Status        make status   (every service's readiness and lag)
  Logs          {config.root / "log"}/
Try:
  KEY={key_shell}
  curl -s -X POST {base}/products -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' \\
       -d '{{"sku": "TEE-001", "name": "Linen tee", "price": "19.90", "currency": "EUR"}}'
Stop everything with: make stop
"""


def stop() -> None:
    config = _config()
    stopped = stop_services(config, [s.name for s in platform_services(API_PORT, SEARCH_PORT)])
    stopped += stop_infrastructure(config)
    print("stopped: " + (", ".join(stopped) if stopped else "nothing was running"))


def status() -> None:
    """One line per service: supervised or not, its own pid, and its figures from its `/metrics` (the processors'
    lag and rate, the relay's backlog); readiness problems from `/readyz`. A stopped processor shows the lag its
    consumer group has at the broker, as the relay reads it."""
    config = _config()
    services = platform_services(API_PORT, SEARCH_PORT)
    relay = next(s for s in services if s.name == "outbox-relay")
    relay_samples = scrape(relay.metrics_url) if relay.metrics_url else None
    relay_figures = RelayFigures.of(relay_samples) if relay_samples is not None else None
    for service in services:
        process = service_process(config, service.name)
        supervisor, pid = process.pid(), process.child_pid()
        state = f"running (pid {pid})" if pid else ("restarting" if supervisor else "stopped")
        print(f"{service.name:14} {state:22} {detail(service, running=bool(pid), relay=relay_figures)}")
    broker = ManagedProcess("broker", config.root / "run", config.root / "log").pid()
    print(f"{'broker':14} {'running (pid ' + str(broker) + ')' if broker else 'stopped'}")


def detail(service: Service, *, running: bool, relay: RelayFigures | None) -> str:
    """What `status` says of one service after its state: readiness and the figures of its `/metrics`."""
    broker_lag = relay.broker_lag(service.name) if relay is not None else None
    if not running:
        return broker_lag or ""
    report = readiness(service)
    if report is None:
        if not service.ready_url:  # the search index's writer: its progress is what the search API reports
            return "no port of its own; its progress: search-api's index lag"
        return "readiness: no answer"
    if "ready" not in report:  # the HTTP services: their readiness, and what they answered
        samples = scrape(service.metrics_url) if service.metrics_url else None
        figures = "" if samples is None else ", " + HttpFigures.of(samples, service.name).line()
        if "lag" in report:  # the search API: how far its index is behind the read model
            figures += f", index lag {report['lag']} changes ({report.get('behind_s', 0):.1f} s)"
        return f"readiness: {report.get('status', report)}{figures}"
    samples = scrape(service.metrics_url) if service.health_port and service.metrics_url else None
    if samples is None:
        figures = ""
    elif service.name == "outbox-relay":
        figures = RelayFigures.of(samples).line() + f", {report.get('role', '?')}"
    else:
        processor = ProcessorFigures.of(samples, service.name)
        figures = processor.line() if report["ready"] else processor.figures()
    if not report["ready"]:
        return "NOT READY: " + "; ".join(report.get("problems", [])) + (f" ({figures})" if figures else "")
    return figures or "ready"


def main() -> None:
    parser = argparse.ArgumentParser(prog="catalog-stack", description=__doc__)
    parser.add_argument("command", choices=["up", "run", "stop", "status"])
    args = parser.parse_args()
    configure_logging("stack", os.environ.get("LOG_LEVEL", "WARNING"))
    logging.getLogger("catalog_stack").setLevel(logging.INFO)
    try:
        {"up": up, "run": run, "stop": stop, "status": status}[args.command]()
    except PortInUse as exc:
        print(f"catalog-stack {args.command}: {exc}", file=sys.stderr)
        sys.exit(2)
    except Exception as exc:
        print(f"catalog-stack {args.command} failed: {without_database_password(str(exc))}", file=sys.stderr)
        sys.exit(1)


def without_database_password(text: str) -> str:
    """`text` with DATABASE_URL masked: a driver's or library's error message may quote the URL it was given."""
    url = os.environ.get("DATABASE_URL")
    return text.replace(url, masked_url(url)) if url else text
