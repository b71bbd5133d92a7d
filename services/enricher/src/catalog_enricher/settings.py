"""Enricher settings (environment variables, typed defaults)."""

from pydantic import Field

from catalog_stream.processor import ProcessorSettings


class EnricherSettings(ProcessorSettings):
    provider_timeout_s: float = 2.0
    provider_max_attempts: int = 3
    provider_failure_threshold: int = 5
    provider_reset_after_s: float = 30.0
    provider_url: str = Field(
        default="", description="The HTTP provider's lookup URL (through OUTBOUND_ALLOW's policy); empty: local."
    )
    provider_rate_per_s: int = Field(default=20, ge=1, description="Calls per second to the provider, per process.")
    provider_burst: int = Field(default=20, ge=1, description="Calls the token bucket lets through at once.")
    provider_retry_after_cap_s: float = Field(default=30.0, ge=0, description="Longest Retry-After honoured.")
    # Fault injection for drills and tests: added latency and share of failing calls of the provider.
    provider_delay_s: float = 0.0
    provider_failure_rate: float = 0.0
    reconcile_interval_s: float = Field(
        default=30.0, description="How often a reconciliation batch runs (a schedule `@every <n>s`); 0: never."
    )
    reconcile_after_s: float = Field(default=60.0, description="Only products unchanged this long are reconciled.")
    reconcile_batch: int = Field(default=500, ge=1, description="Products looked at per kind and batch.")
    enrich_batch: int = Field(default=500, ge=1, description="Products claimed from the work queue at a time.")
    enrich_poll_s: float = Field(default=0.2, gt=0, description="Pause of an idle worker before it claims again.")
    enrich_claim_lease_s: float = Field(
        default=60.0, gt=0, description="How long claimed work stays with its worker before others may claim it."
    )
    enrich_max_attempts: int = Field(default=5, ge=1, description="Claims of a product before it is `failed`.")
    enrich_queue_bound: int = Field(
        default=20_000, ge=1, description="Claimable backlog above which low work is parked and normal work slowed."
    )
    enrich_slow_s: float = Field(default=0.5, ge=0, description="Pause of a bulk batch while over the bound.")
    enrich_refresh_after_s: float = Field(
        default=7 * 86400.0, gt=0, description="Enrichments older than this are refreshed at low priority."
    )
    enrich_refresh_schedule: str = Field(
        default="*/5 * * * *", description="When the stale-refresh scan runs (cron, UTC; `@every 60s`); empty: never."
    )
    scheduler_tick_s: float = Field(default=1.0, gt=0, description="How often due schedules are looked for.")
    enrich_degraded_every_s: float = Field(
        default=30.0,
        gt=0,
        description="How often degraded results are queued again (at low) while the provider may be up.",
    )
    enrich_refresh_batch: int = Field(default=1000, ge=1, description="Enrichments queued per refresh scan.")
