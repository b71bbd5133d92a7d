"""`catalog-stack up|run|stop|status`: the local system for `make run`, `make stop` and humans."""

import argparse
import logging
import os
import secrets
import sys
from pathlib import Path

from catalog_kit.jsonlog import configure_logging
from catalog_stack.infra import StackConfig, start_infrastructure, stop_infrastructure
from catalog_stack.processes import ManagedProcess
from catalog_stack.services import platform_services, start_services, stop_services

API_PORT = int(os.environ.get("API_PORT", "8000"))
SEARCH_PORT = int(os.environ.get("SEARCH_PORT", "8001"))


def _config() -> StackConfig:
    return StackConfig.from_env(Path.cwd() / ".local")


def _write_key(config: StackConfig) -> str:
    """The development write key: API_KEYS if set, else one generated once and kept under the stack dir."""
    if os.environ.get("API_KEYS"):
        return os.environ["API_KEYS"].split(",")[0]
    key_file = config.root / "api-key"
    if not key_file.exists():
        config.root.mkdir(parents=True, exist_ok=True)
        key_file.write_text(f"dev-{secrets.token_urlsafe(18)}")
        key_file.chmod(0o600)
    return key_file.read_text().strip()


def up() -> None:
    endpoints = start_infrastructure(_config())
    print(f"DATABASE_URL={endpoints.database_url}\nKAFKA_BOOTSTRAP_SERVERS={endpoints.kafka_bootstrap_servers}")


def run() -> None:
    config = _config()
    endpoints = start_infrastructure(config)
    key = _write_key(config)
    services = platform_services(API_PORT, SEARCH_PORT)
    start_services(
        config, endpoints, services, {"API_KEYS": key, "API_PORT": str(API_PORT), "SEARCH_PORT": str(SEARCH_PORT)}
    )
    base = f"http://127.0.0.1:{API_PORT}"
    search = f"http://127.0.0.1:{SEARCH_PORT}"
    print(f"""
Catalog platform is running.
  Product API   {base}            (OpenAPI UI: {base}/docs, health: {base}/healthz)
  Search API    {search}/search?q=linen   (OpenAPI UI: {search}/docs)
  Write key     Authorization: Bearer {key}
  PostgreSQL    {endpoints.database_url}
  Kafka         {endpoints.kafka_bootstrap_servers}   (topic catalog.product.v1)
  Logs          {config.root / "log"}/
Try:
  curl -s -X POST {base}/products -H 'Authorization: Bearer {key}' -H 'Content-Type: application/json' \\
       -d '{{"sku": "TEE-001", "name": "Linen tee", "price": "19.90", "currency": "EUR"}}'
Stop everything with: make stop
""")


def stop() -> None:
    config = _config()
    stopped = stop_services(config, [s.name for s in platform_services(API_PORT, SEARCH_PORT)])
    stopped += stop_infrastructure(config)
    print("stopped: " + (", ".join(stopped) if stopped else "nothing was running"))


def status() -> None:
    config = _config()
    for service in [*(s.name for s in platform_services(API_PORT, SEARCH_PORT)), "broker"]:
        pid = ManagedProcess(service, config.root / "run", config.root / "log").pid()
        print(f"{service:14} {'running (pid ' + str(pid) + ')' if pid else 'stopped'}")


def main() -> None:
    parser = argparse.ArgumentParser(prog="catalog-stack", description=__doc__)
    parser.add_argument("command", choices=["up", "run", "stop", "status"])
    args = parser.parse_args()
    configure_logging("stack", os.environ.get("LOG_LEVEL", "WARNING"))
    logging.getLogger("catalog_stack").setLevel(logging.INFO)
    try:
        {"up": up, "run": run, "stop": stop, "status": status}[args.command]()
    except Exception as exc:
        print(f"catalog-stack {args.command} failed: {exc}", file=sys.stderr)
        sys.exit(1)
