"""Settings base shared by every service; configuration comes only from the environment."""

import os
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from catalog_kit.outbound_policy import OutboundPolicy, parse_allow, parse_ports


def local_database_url() -> str:
    """What `catalog-stack up` starts locally (its port moved by `CATALOG_PG_PORT`), so no CLI needs more."""
    return f"postgresql+psycopg://postgres@127.0.0.1:{os.environ.get('CATALOG_PG_PORT', '55432')}/catalog"


def local_kafka_bootstrap_servers() -> str:
    """The local broker `catalog-stack up` starts (its port moved by `CATALOG_BROKER_PORT`)."""
    return f"127.0.0.1:{os.environ.get('CATALOG_BROKER_PORT', '19092')}"


class CatalogSettings(BaseSettings):
    """Connection and logging settings common to all services."""

    model_config = SettingsConfigDict(env_prefix="", extra="ignore", frozen=True)

    # Secret: the URL may carry the database password. Revealed only where a connection is made (`catalog_kit.db`).
    database_url: SecretStr = Field(
        default_factory=lambda: SecretStr(local_database_url()),
        description="SQLAlchemy URL of the catalog database.",
    )
    kafka_bootstrap_servers: str = Field(default_factory=local_kafka_bootstrap_servers)
    # Secret values: the extras are where a real cluster's `sasl.password` or `ssl.key.password` go.
    kafka_client_extra: dict[str, SecretStr] = Field(
        default_factory=dict,
        description="Extra librdkafka/aiokafka settings as JSON (security.protocol, sasl.* for a real cluster).",
    )
    object_store_dir: Path = Field(
        default=Path(".local/objects"),
        description="Directory of the local object store (feeds, images); relative paths resolve against the cwd.",
    )
    object_store_backend: Literal["local", "s3"] = Field(
        default="local", description="Where objects live: the local directory, or a bucket over the S3 API."
    )
    s3_endpoint_url: str = Field(default="", description="S3 API endpoint; empty: AWS for the region.")
    s3_bucket: str = ""
    s3_region: str = "us-east-1"
    s3_access_key_id: str = ""
    s3_secret_access_key: SecretStr = SecretStr("")  # SecretStr: never printed in logs or reprs
    media_base_url: str = Field(
        default="http://127.0.0.1:8000/media",
        description="Public URL prefix under which media objects (images, derivatives) are served, by key.",
    )
    public_base_url: str = Field(
        default="http://127.0.0.1:8000",
        description="Public URL of the product API: event schemas are served, and named in ce_dataschema, under "
        "<public_base_url>/schemas/. Every producer must share the API's value.",
    )
    outbound_allow: str = Field(
        default="",
        description="Destinations outbound requests (image fetches) may reach although the policy refuses them: "
        "comma-separated host:port, e.g. 127.0.0.1:9000,[::1]:9000,images.internal:8080. Empty (production): "
        "only public addresses.",
    )
    outbound_ports: str = Field(
        default="80,443", description="Ports outbound requests may use (comma-separated); OUTBOUND_ALLOW adds more."
    )
    log_level: str = "INFO"
    db_pool_size: int = 20  # the API serves sync endpoints from a 40-thread pool

    @field_validator("outbound_allow")
    @classmethod
    def _valid_allowlist(cls, value: str) -> str:
        parse_allow(value)  # a typo must stop the service at start, not silently allow nothing
        return value

    @field_validator("outbound_ports")
    @classmethod
    def _valid_ports(cls, value: str) -> str:
        parse_ports(value)
        return value

    def outbound_policy(self) -> OutboundPolicy:
        """Where outbound requests may go (`catalog_kit.outbound`)."""
        return OutboundPolicy.parse(self.outbound_allow, self.outbound_ports)

    def kafka_client_settings(self) -> dict[str, str]:
        """`kafka_client_extra` revealed, for the Kafka clients only."""
        return {name: value.get_secret_value() for name, value in self.kafka_client_extra.items()}
