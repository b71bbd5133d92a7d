"""A product's images as the media service sees them: outcomes, failure reasons, and which ones need work."""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any, Literal

from catalog_media.domain.geometry import ImageFormat

ImageStatus = Literal["processed", "failed"]


class Reason(StrEnum):
    """What a client is told about a failed image: stored in `product_images.reason`, published in
    `product.media_processed`, shown by `GET /products/{id}/images`. Deliberately coarse: an image URL must not
    become a way to scan or read the inside (which port answers how, what a refused body hashes to), so the exact
    cause and its detail go to the worker's log only."""

    BLOCKED_ADDRESS = "blocked_address"  # the outbound policy refused the URL, a redirect, or every address
    UNREACHABLE = "unreachable"  # no answer: connection failed, broken protocol, 5xx, too many redirects
    TIMEOUT = "timeout"  # too slow: connect, a read, or the whole download passed its deadline
    TOO_LARGE = "too_large"  # too many bytes, pixels or a side too long
    NOT_AN_IMAGE = "not_an_image"  # an answer, but no JPEG, PNG or WebP that decodes (4xx and wrong types too)


class Failure(StrEnum):
    """Why exactly an image has no derivatives: logged with its detail; only its `reason` is stored or shown."""

    NOT_AN_IMAGE = "not_an_image"  # bytes no decoder recognises
    UNSUPPORTED_FORMAT = "unsupported_format"  # an image, but not JPEG, PNG or WebP
    TOO_MANY_PIXELS = "too_many_pixels"  # a decompression bomb, or simply too large to decode safely
    TOO_LARGE_DIMENSIONS = "dimensions_too_large"  # a side longer than the cap, whatever the pixel count
    TRUNCATED = "truncated"  # the data ends before the image does
    DECODE_ERROR = "decode_error"  # the decoder refused the data
    TOO_MANY_BYTES = "too_many_bytes"
    WRONG_CONTENT_TYPE = "wrong_content_type"
    HTTP_ERROR = "http_error"  # the server answered, but not with the image (4xx)
    BAD_SOURCE = "bad_source"  # a missing stored object (our own upload)
    BLOCKED_ADDRESS = "blocked_address"  # the outbound policy refused it
    UNREACHABLE = "unreachable"  # refused connections, broken protocol, 5xx: worth another try later
    TIMEOUT = "timeout"  # connect or read timeout, or the download's deadline passed

    @property
    def reason(self) -> Reason:
        return _REASON[self]


_REASON = {
    Failure.NOT_AN_IMAGE: Reason.NOT_AN_IMAGE,
    Failure.UNSUPPORTED_FORMAT: Reason.NOT_AN_IMAGE,
    Failure.TOO_MANY_PIXELS: Reason.TOO_LARGE,
    Failure.TOO_LARGE_DIMENSIONS: Reason.TOO_LARGE,
    Failure.TRUNCATED: Reason.NOT_AN_IMAGE,
    Failure.DECODE_ERROR: Reason.NOT_AN_IMAGE,
    Failure.TOO_MANY_BYTES: Reason.TOO_LARGE,
    Failure.WRONG_CONTENT_TYPE: Reason.NOT_AN_IMAGE,
    Failure.HTTP_ERROR: Reason.NOT_AN_IMAGE,
    Failure.BAD_SOURCE: Reason.NOT_AN_IMAGE,
    Failure.BLOCKED_ADDRESS: Reason.BLOCKED_ADDRESS,
    Failure.UNREACHABLE: Reason.UNREACHABLE,
    Failure.TIMEOUT: Reason.TIMEOUT,
}

# Failures that say nothing about the image itself: the next event for the product tries again.
RETRYABLE = frozenset({Reason.UNREACHABLE, Reason.TIMEOUT})


class ImageRejected(Exception):
    """An image that cannot be processed: the coarse `reason` that is recorded, the `cause` that is logged."""

    def __init__(self, failure: Failure, detail: str) -> None:
        super().__init__(f"{failure.value}: {detail}")
        self.failure = failure
        self.reason = failure.reason
        self.cause = f"{failure.value}: {detail}"[:500]


def reason_of(stored: str | None) -> Reason | None:
    """The coarse reason of a stored one (None for an unknown or missing one). Rows written before reasons were
    coarse hold `<failure>: <detail>`; their failure still says which reason they mean."""
    code = (stored or "").split(":", 1)[0]
    if code in Reason._value2member_map_:
        return Reason(code)
    if code in Failure._value2member_map_:
        return Failure(code).reason
    return None


@dataclass(frozen=True)
class Derivative:
    """One stored derivative: the long side it was made for, its format, actual size and object key."""

    size: int
    format: ImageFormat
    width: int
    height: int
    key: str

    def as_json(self) -> dict[str, Any]:
        return {"size": self.size, "format": self.format, "width": self.width, "height": self.height, "key": self.key}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "Derivative":
        return cls(int(data["size"]), data["format"], int(data["width"]), int(data["height"]), str(data["key"]))


@dataclass(frozen=True)
class ImageOutcome:
    """What processing one image gave: derivatives, dimensions and colour, or a failure reason."""

    url: str
    status: ImageStatus
    renditions: str  # the fingerprint of the rendition set it was made with
    reason: str | None = None  # a `Reason` for a failed image
    sha256: str | None = None  # of a processed original only: a refused body's hash would tell what it contained
    width: int | None = None
    height: int | None = None
    dominant_color: str | None = None
    derivatives: tuple[Derivative, ...] = field(default=())
    cause: str | None = field(default=None, compare=False)  # why exactly it failed: for the log, never stored

    @classmethod
    def failed(cls, url: str, renditions: str, reason: Reason, cause: str | None = None) -> "ImageOutcome":
        return cls(url=url, status="failed", renditions=renditions, reason=reason.value, cause=cause)

    def for_url(self, url: str) -> "ImageOutcome":
        """The same result for another URL serving the same bytes (content-hash reuse)."""
        return replace(self, url=url)

    @property
    def retryable(self) -> bool:
        return self.status == "failed" and reason_of(self.reason) in RETRYABLE

    def thumbnail(self) -> Derivative | None:
        """The smallest derivative, WebP preferred."""
        if not self.derivatives:
            return None
        return min(self.derivatives, key=lambda d: (d.size, d.format != "webp"))


@dataclass(frozen=True)
class StoredImage:
    """An image outcome as the catalog database holds it, at its position in the product's list."""

    position: int
    outcome: ImageOutcome


@dataclass(frozen=True)
class MediaPlan:
    """Per listed URL: a stored outcome that still holds, or a place in `todo` (each URL once)."""

    reuse: Mapping[str, ImageOutcome]
    todo: tuple[str, ...]


def plan_media(urls: Sequence[str], stored: Sequence[StoredImage], renditions: str, force: bool = False) -> MediaPlan:
    """Which of a product's images need work: new URLs, outdated renditions, retryable failures — or all (force).

    A URL already processed for this product with the current renditions is not fetched again: the event is a
    duplicate, or another core field changed. A failure that is about the image itself stays a failure.
    """
    held = {s.outcome.url: s.outcome for s in stored}
    reuse: dict[str, ImageOutcome] = {}
    todo: list[str] = []
    for url in dict.fromkeys(urls):
        outcome = held.get(url)
        if force or outcome is None or outcome.renditions != renditions or outcome.retryable:
            todo.append(url)
        else:
            reuse[url] = outcome
    return MediaPlan(reuse, tuple(todo))


@dataclass(frozen=True)
class MediaResult:
    """A product's images at core `version`, each with its outcome, in list order."""

    product_id: str
    version: int
    images: tuple[ImageOutcome, ...]

    @property
    def urls(self) -> list[str]:
        return [image.url for image in self.images]

    def thumbnail(self) -> Derivative | None:
        """The thumbnail of the first image that was processed."""
        return next((t for image in self.images if (t := image.thumbnail()) is not None), None)

    def to_event_data(self, media_base_url: str) -> dict[str, Any]:
        """The data of `product.media_processed`: keys become public URLs under `media_base_url`."""
        thumbnail = self.thumbnail()
        return {
            "id": self.product_id,
            "version": self.version,
            "thumbnail_url": None if thumbnail is None else media_url(media_base_url, thumbnail.key),
            "images": [
                {
                    "position": position,
                    "url": image.url,
                    "status": image.status,
                    "reason": image.reason,
                    "sha256": image.sha256,
                    "width": image.width,
                    "height": image.height,
                    "dominant_color": image.dominant_color,
                    "derivatives": [
                        {
                            "size": d.size,
                            "format": d.format,
                            "width": d.width,
                            "height": d.height,
                            "url": media_url(media_base_url, d.key),
                        }
                        for d in image.derivatives
                    ],
                }
                for position, image in enumerate(self.images)
            ],
        }


def media_url(base_url: str, key: str) -> str:
    """The public URL of an object key."""
    return f"{base_url.rstrip('/')}/{key}"


def media_key(base_url: str, url: str) -> str | None:
    """The object key of one of our own media URLs (an upload); None for any other URL."""
    prefix = base_url.rstrip("/") + "/"
    return url[len(prefix) :] if url.startswith(prefix) and len(url) > len(prefix) else None
