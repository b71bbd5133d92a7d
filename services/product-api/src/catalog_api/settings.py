"""Product API settings (environment variables, typed defaults)."""

from pydantic import Field

from catalog_kit.settings import CatalogSettings


class ApiSettings(CatalogSettings):
    api_host: str = "127.0.0.1"
    api_port: int = 8000
    api_keys: str = Field(default="", description="Comma-separated bearer keys allowed to write; none: no writes.")
    max_body_bytes: int = 1024 * 1024
    max_import_bytes: int = Field(default=1024**3, description="Feed uploads above this get 413 (streamed to storage).")
    max_image_bytes: int = Field(default=20 * 1024 * 1024, description="Image uploads above this get 413.")
    idempotency_ttl_hours: int = 24
    page_size_max: int = 200

    def write_keys(self) -> list[str]:
        return [key.strip() for key in self.api_keys.split(",") if key.strip()]
