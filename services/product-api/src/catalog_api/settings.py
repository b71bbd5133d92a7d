"""Product API settings (environment variables, typed defaults)."""

from pydantic import Field, SecretStr

from catalog_api.domain.keys import EnvKey, parse_api_keys
from catalog_kit.settings import CatalogSettings


class ApiSettings(CatalogSettings):
    api_host: str = "127.0.0.1"
    api_port: int = 8000
    api_keys: SecretStr = Field(
        default=SecretStr(""),
        description="Development keys: `key=scope1+scope2,key2` (a bare key: catalog:read+catalog:write). Keys "
        "for production are stored hashed with `catalog-keys`.",
    )
    max_body_bytes: int = 1024 * 1024
    max_import_bytes: int = Field(default=1024**3, description="Feed uploads above this get 413 (streamed to storage).")
    max_image_bytes: int = Field(default=20 * 1024 * 1024, description="Image uploads above this get 413.")
    idempotency_ttl_hours: int = 24
    page_size_max: int = 200
    views_report_pending: bool = Field(
        default=True,
        description="A product read by GET /products/{id} while its enrichment waits is reported to the enricher "
        "(priority critical, after the response).",
    )
    # The operator console (/console) and the live job stream.
    console_secret: SecretStr = Field(
        default=SecretStr(""),
        description="Signs console sessions; empty: a random secret per process (sessions end with the process). "
        "Set it when several API processes serve the console.",
    )
    console_session_hours: float = Field(default=8.0, gt=0)
    pipeline_targets: str = Field(
        default="",
        description="Health ports the console's overview reads: `name=http://127.0.0.1:port,...` (operator-set).",
    )
    import_events_poll_s: float = Field(default=0.5, gt=0, description="How often a live job stream reads its job.")
    import_events_max_streams: int = Field(default=100, ge=1, description="Concurrent live job streams per process.")
    import_events_ping_s: float = Field(default=15.0, gt=0)
    dead_letter_scan_max: int = Field(default=10_000, ge=1, description="Dead letters the console reads per topic.")

    def env_keys(self) -> tuple[EnvKey, ...]:
        """The keys of `API_KEYS` (their digests and scopes); raises `InvalidKeys` if it cannot be read."""
        return parse_api_keys(self.api_keys.get_secret_value())
