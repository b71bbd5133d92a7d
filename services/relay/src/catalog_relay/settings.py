"""Outbox relay settings (environment variables, typed defaults)."""

from catalog_kit.settings import CatalogSettings


class RelaySettings(CatalogSettings):
    relay_batch_size: int = 2000
    relay_poll_interval_s: float = 1.0
    relay_delivery_timeout_s: float = 30.0
    relay_standby_retry_s: float = 0.5
    relay_retention_hours: float = 24.0
    relay_cleanup_interval_s: float = 60.0
    relay_report_interval_s: float = 10.0
