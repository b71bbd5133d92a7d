"""Outbox relay settings (environment variables, typed defaults)."""

from pydantic import Field
from sqlalchemy.engine import make_url

from catalog_kit.settings import CatalogSettings
from catalog_schemas.topics import PROCESSORS


class RelaySettings(CatalogSettings):
    relay_batch_size: int = 2000
    relay_poll_interval_s: float = 1.0
    relay_delivery_timeout_s: float = 30.0
    relay_standby_retry_s: float = 0.5
    relay_retention_hours: float = 24.0
    relay_cleanup_interval_s: float = 60.0
    relay_report_interval_s: float = 5.0  # also how fresh the backlog that readiness sees is
    relay_fencing: bool = Field(
        default=True,
        description="Publish in Kafka transactions so that a new leader fences the old one at the broker; off: a "
        "plain idempotent producer (for brokers without transactions).",
    )
    relay_transactional_id: str = Field(
        default="",
        description="Transactional id shared by every relay of one catalog; empty: derived from the database's "
        "host, port and name, so relays of one catalog share it and catalogs sharing a broker do not.",
    )

    def transactional_id(self) -> str | None:
        if not self.relay_fencing:
            return None
        if self.relay_transactional_id:
            return self.relay_transactional_id
        url = make_url(self.database_url.get_secret_value())
        return f"catalog-relay/{url.host or 'local'}:{url.port or 5432}/{url.database}"

    relay_producer_reset_after: int = Field(
        default=3, ge=1, description="Batches in a row with nothing acknowledged before the producer is replaced."
    )
    relay_stall_after_s: float = Field(
        default=60.0, description="Leader with a backlog and nothing published for this long: not ready."
    )
    health_host: str = "127.0.0.1"
    health_port: int = Field(default=0, description="Port of /healthz, /readyz and /metrics; 0: any free port.")
    relay_lag_groups: str = Field(
        default=",".join(f"catalog-{processor}" for processor in PROCESSORS),
        description="Consumer groups whose lag /metrics reports (comma-separated); empty: none.",
    )
    relay_lag_interval_s: float = Field(default=5.0, gt=0, description="How often the groups' lag is read.")

    def lag_groups(self) -> list[str]:
        return [group.strip() for group in self.relay_lag_groups.split(",") if group.strip()]
