"""The `catalog-relay` command: runs the outbox relay until SIGTERM or SIGINT."""

import logging
import signal
import threading
from types import FrameType

from catalog_kit import tracing
from catalog_kit.jsonlog import configure_logging
from catalog_kit.kafka import client_config
from catalog_relay.adapters.health_http import serve_health
from catalog_relay.adapters.metrics import GroupLagSampler
from catalog_relay.entrypoints.bootstrap import build
from catalog_relay.settings import RelaySettings

log = logging.getLogger("catalog_relay")


def main() -> None:
    settings = RelaySettings()
    configure_logging("outbox-relay", settings.log_level)
    tracing.configure("outbox-relay")
    stop = threading.Event()

    def request_stop(signum: int, _: FrameType | None) -> None:
        log.info("stopping: finishing the batch in flight", extra={"signal": signal.Signals(signum).name})
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    relay = build(settings)
    if groups := settings.lag_groups():
        GroupLagSampler(client_config(settings), groups, settings.relay_lag_interval_s).start(stop)
    server = serve_health(settings.health_host, settings.health_port, relay.health.report)
    log.info("health endpoints up", extra={"port": server.server_address[1]})
    relay.run(stop)
    server.shutdown()
    log.info("relay stopped")
