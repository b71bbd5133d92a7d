"""Enricher settings (environment variables, typed defaults)."""

from pydantic import Field

from catalog_stream.processor import ProcessorSettings


class EnricherSettings(ProcessorSettings):
    provider_timeout_s: float = 2.0
    provider_max_attempts: int = 3
    provider_failure_threshold: int = 5
    provider_reset_after_s: float = 30.0
    # Fault injection for drills and tests: added latency and share of failing calls of the provider.
    provider_delay_s: float = 0.0
    provider_failure_rate: float = 0.0
    reconcile_interval_s: float = Field(default=30.0, description="How often a reconciliation batch runs; 0: never.")
    reconcile_after_s: float = Field(default=60.0, description="Only products unchanged this long are reconciled.")
    reconcile_batch: int = Field(default=500, ge=1, description="Products looked at per kind and batch.")
