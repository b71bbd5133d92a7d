"""Media settings (environment variables, typed defaults)."""

from pydantic import Field

from catalog_media.domain.geometry import ImageFormat, Renditions
from catalog_stream.processor import ProcessorSettings


class MediaSettings(ProcessorSettings):
    media_sizes: list[int] = Field(default=[1200, 600, 200], description="Long sides of the derivatives (JSON list).")
    media_formats: list[ImageFormat] = Field(default=["webp", "jpeg"], description="Formats of every derivative.")
    media_max_bytes: int = Field(default=20 * 1024 * 1024, description="Larger originals are refused unread.")
    media_max_pixels: int = Field(default=50_000_000, description="Checked from the header, before any decoding.")
    media_max_side: int = Field(default=20_000, description="Longest side accepted, whatever the pixel count.")
    media_fetch_timeout_s: float = Field(default=5.0, description="Connect and per-read timeout of image fetches.")
    media_fetch_deadline_s: float = Field(
        default=20.0, description="Wall-clock limit of one fetch, lookup to last byte, redirects included."
    )
    media_threads: int = Field(default=2, description="Images decoded at once; bounds CPU and memory.")
    media_jpeg_quality: int = 85
    media_webp_quality: int = 80

    def renditions(self) -> Renditions:
        return Renditions(tuple(self.media_sizes), tuple(self.media_formats))
