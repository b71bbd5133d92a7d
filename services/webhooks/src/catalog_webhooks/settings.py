"""Webhooks settings (environment variables, typed defaults)."""

from pydantic import Field

from catalog_stream.processor import ProcessorSettings
from catalog_webhooks.domain.backoff import RetrySchedule


class WebhookSettings(ProcessorSettings):
    webhook_poll_interval_s: float = Field(default=0.5, description="How often due deliveries are looked for.")
    webhook_batch: int = Field(default=20, ge=1, description="Deliveries claimed and sent at once.")
    webhook_lease_s: float = Field(
        default=60.0, description="A claimed delivery is due again after this if its sender died mid-attempt."
    )
    webhook_timeout_s: float = Field(default=5.0, description="Connect and per-read timeout of one attempt.")
    webhook_deadline_s: float = Field(default=10.0, description="Wall-clock limit of one attempt.")
    webhook_max_attempts: int = Field(default=8, ge=1, description="Attempts before a delivery has failed.")
    webhook_backoff_base_s: float = Field(default=60.0, description="Wait after the first failed attempt; doubles.")
    webhook_backoff_cap_s: float = Field(default=3600.0, description="Longest wait between two attempts.")

    webhook_retention_days: float = Field(
        default=30.0, description="Delivered and failed deliveries (with their attempts) are deleted after this."
    )
    webhook_prune_interval_s: float = 3600.0
    webhook_metrics_interval_s: float = Field(
        default=15.0, description="How often the pending and failed deliveries are counted for /metrics."
    )

    def retry_schedule(self) -> RetrySchedule:
        return RetrySchedule(self.webhook_max_attempts, self.webhook_backoff_base_s, self.webhook_backoff_cap_s)
