"""Enricher settings (environment variables, typed defaults)."""

from catalog_stream.processor import ProcessorSettings


class EnricherSettings(ProcessorSettings):
    provider_timeout_s: float = 2.0
    provider_max_attempts: int = 3
    provider_failure_threshold: int = 5
    provider_reset_after_s: float = 30.0
    # Fault injection for drills and tests: added latency and share of failing calls of the provider.
    provider_delay_s: float = 0.0
    provider_failure_rate: float = 0.0
