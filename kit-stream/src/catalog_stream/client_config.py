"""aiokafka connection settings from the platform's one Kafka configuration (`KAFKA_CLIENT_EXTRA` in librdkafka names).

Operators write one JSON object for every client (`{"security.protocol": "SASL_SSL", "sasl.mechanisms": "PLAIN",
"sasl.username": …}`); the relay hands it to librdkafka as it is, and the processors get the same settings under
aiokafka's names here. A setting that has no aiokafka counterpart is reported, never silently dropped.
"""

import logging
import ssl
from collections.abc import Mapping
from typing import Any

from catalog_kit.settings import CatalogSettings

log = logging.getLogger(__name__)

# librdkafka name → aiokafka keyword, for settings that mean the same thing to both clients.
_SAME_MEANING = {
    "security.protocol": "security_protocol",
    "sasl.mechanism": "sasl_mechanism",
    "sasl.mechanisms": "sasl_mechanism",
    "sasl.username": "sasl_plain_username",
    "sasl.password": "sasl_plain_password",
    "sasl.kerberos.service.name": "sasl_kerberos_service_name",
    "client.id": "client_id",
    "request.timeout.ms": "request_timeout_ms",
    "metadata.max.age.ms": "metadata_max_age_ms",
    "connections.max.idle.ms": "connections_max_idle_ms",
    "client.rack": "client_rack",
}
_INTEGERS = {"request_timeout_ms", "metadata_max_age_ms", "connections_max_idle_ms"}
_SSL_FILES = {"ssl.ca.location": "cafile", "ssl.certificate.location": "certfile", "ssl.key.location": "keyfile"}
# Settings of librdkafka's own internals that have no meaning for aiokafka; accepted without a warning.
_LIBRDKAFKA_ONLY = {"enable.ssl.certificate.verification", "log_level", "debug", "statistics.interval.ms"}


class UnsupportedSetting(ValueError):
    """A `KAFKA_CLIENT_EXTRA` setting the processors cannot honour (it would weaken security if ignored)."""


def aiokafka_config(extra: Mapping[str, str]) -> dict[str, Any]:
    """aiokafka keyword arguments for `KAFKA_CLIENT_EXTRA`; raises on a security setting it cannot map."""
    config: dict[str, Any] = {}
    ssl_files: dict[str, str] = {}
    ignored = []
    for name, value in extra.items():
        if name in _SAME_MEANING:
            keyword = _SAME_MEANING[name]
            config[keyword] = int(value) if keyword in _INTEGERS else str(value)
        elif name in _SSL_FILES:
            ssl_files[_SSL_FILES[name]] = str(value)
        elif name.startswith(("ssl.", "sasl.")):
            raise UnsupportedSetting(f"KAFKA_CLIENT_EXTRA[{name!r}] has no equivalent for the stream processors")
        elif name not in _LIBRDKAFKA_ONLY:
            ignored.append(name)
    if "security_protocol" in config:
        config["security_protocol"] = config["security_protocol"].upper()
    if ssl_files or str(config.get("security_protocol", "")).endswith("SSL"):
        context = ssl.create_default_context(cafile=ssl_files.get("cafile"))
        if "certfile" in ssl_files:
            context.load_cert_chain(ssl_files["certfile"], ssl_files.get("keyfile"))
        config["ssl_context"] = context
    if ignored:
        log.warning("KAFKA_CLIENT_EXTRA settings not used by the stream processors", extra={"settings": ignored})
    return config


def connection(settings: CatalogSettings) -> dict[str, Any]:
    """Where and how an aiokafka client connects."""
    return {"bootstrap_servers": settings.kafka_bootstrap_servers, **aiokafka_config(settings.kafka_client_settings())}
