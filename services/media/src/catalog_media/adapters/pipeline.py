"""The Pillow pipeline: one original in, every derivative out, with hostile input refused before decoding.

Fast path (see docs/media.md): the JPEG decoder is asked once (`draft`) for the smallest scale that still covers
the largest derivative, then each size is made from the previous one with LANCZOS and `reducing_gap`.
"""

import io
import warnings
from dataclasses import dataclass

from PIL import Image, ImageOps, UnidentifiedImageError

from catalog_media.domain.colour import dominant_colour
from catalog_media.domain.geometry import ImageFormat, Renditions, fit_long_side
from catalog_media.domain.images import Failure, ImageRejected

ACCEPTED_FORMATS = frozenset({"JPEG", "PNG", "WEBP"})
_SWAPS_AXES = frozenset({5, 6, 7, 8})  # EXIF orientations that turn the image by 90°
_ORIENTATION = 0x0112
_COLOUR_SAMPLE = (48, 48)
_PIL_FORMAT: dict[ImageFormat, str] = {"webp": "WEBP", "jpeg": "JPEG"}


@dataclass(frozen=True)
class Limits:
    """What an original may be: checked from its header, before a single pixel is decoded."""

    max_pixels: int
    max_side: int


@dataclass(frozen=True)
class EncodedDerivative:
    size: int
    format: ImageFormat
    width: int
    height: int
    data: bytes


@dataclass(frozen=True)
class Rendered:
    """The original's oriented dimensions, its dominant colour and the encoded derivatives."""

    width: int
    height: int
    dominant_color: str
    derivatives: tuple[EncodedDerivative, ...]


def apply_pixel_limit(max_pixels: int) -> None:
    """Make Pillow's own bomb check agree with ours (it is process-wide) and turn its warning into an error."""
    Image.MAX_IMAGE_PIXELS = max_pixels
    warnings.simplefilter("error", Image.DecompressionBombWarning)


def render(
    data: bytes, renditions: Renditions, limits: Limits, *, jpeg_quality: int = 85, webp_quality: int = 80
) -> Rendered:
    """Every derivative of `data`; ImageRejected for anything that is not a safe JPEG, PNG or WebP."""
    try:
        with Image.open(io.BytesIO(data)) as original:  # reads the header only
            _check_header(original, limits)
            return _render(original, renditions, jpeg_quality, webp_quality)
    except ImageRejected:
        raise
    except UnidentifiedImageError as exc:
        raise ImageRejected(Failure.NOT_AN_IMAGE, "no image format recognised") from exc
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageRejected(Failure.TOO_MANY_PIXELS, str(exc)[:200]) from exc
    except OSError as exc:
        failure = Failure.TRUNCATED if "truncated" in str(exc) else Failure.DECODE_ERROR
        raise ImageRejected(failure, str(exc)[:200]) from exc
    except (SyntaxError, ValueError, EOFError, MemoryError) as exc:  # what Pillow's plugins raise on bad data
        raise ImageRejected(Failure.DECODE_ERROR, f"{type(exc).__name__}: {exc}"[:200]) from exc


@dataclass(frozen=True)
class PillowRenderer:
    """`render` with the limits and encoder qualities of one deployment fixed: what the media service calls."""

    limits: Limits
    jpeg_quality: int = 85
    webp_quality: int = 80

    def render(self, data: bytes, renditions: Renditions) -> Rendered:
        return render(data, renditions, self.limits, jpeg_quality=self.jpeg_quality, webp_quality=self.webp_quality)


def _check_header(image: Image.Image, limits: Limits) -> None:
    if image.format not in ACCEPTED_FORMATS:
        raise ImageRejected(Failure.UNSUPPORTED_FORMAT, f"{image.format} is not one of JPEG, PNG, WebP")
    width, height = image.size
    if max(width, height) > limits.max_side:
        raise ImageRejected(Failure.TOO_LARGE_DIMENSIONS, f"{width}x{height}, longest side allowed {limits.max_side}")
    if width * height > limits.max_pixels:
        raise ImageRejected(Failure.TOO_MANY_PIXELS, f"{width}x{height}, at most {limits.max_pixels} pixels")
    if width < 1 or height < 1:
        raise ImageRejected(Failure.DECODE_ERROR, f"empty image {width}x{height}")


def _render(original: Image.Image, renditions: Renditions, jpeg_quality: int, webp_quality: int) -> Rendered:
    stored_w, stored_h = original.size
    orientation = original.getexif().get(_ORIENTATION, 1)
    width, height = (stored_h, stored_w) if orientation in _SWAPS_AXES else (stored_w, stored_h)
    # JPEG only: decode at 1/2, 1/4 or 1/8 scale, the smallest that still covers the largest derivative.
    original.draft("RGB", fit_long_side(stored_w, stored_h, renditions.largest))
    image = ImageOps.exif_transpose(original)  # decodes; turns the pixels, drops the orientation tag
    image = image.convert("RGBA" if _has_alpha(image) else "RGB")
    image.info.clear()  # no EXIF, ICC, XMP or comments travel into the derivatives

    derivatives: list[EncodedDerivative] = []
    current = image
    for size in renditions.sizes:  # largest first: each one is made from the previous one
        target = fit_long_side(width, height, size)
        if current.size != target:
            current = current.resize(target, Image.Resampling.LANCZOS, reducing_gap=2.0)
        for fmt in renditions.formats:
            derivatives.append(
                EncodedDerivative(size, fmt, *current.size, _encode(current, fmt, jpeg_quality, webp_quality))
            )
    sample = current.convert("RGB").resize(_COLOUR_SAMPLE, Image.Resampling.NEAREST).tobytes()
    colour = dominant_colour(zip(sample[0::3], sample[1::3], sample[2::3], strict=True))
    return Rendered(width, height, colour, tuple(derivatives))


def _has_alpha(image: Image.Image) -> bool:
    return image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info)


def _encode(image: Image.Image, fmt: ImageFormat, jpeg_quality: int, webp_quality: int) -> bytes:
    buffer = io.BytesIO()
    if fmt == "jpeg":
        if image.mode == "RGBA":  # JPEG has no alpha: flatten onto white, as a shop page would show it
            flat = Image.new("RGB", image.size, (255, 255, 255))
            flat.paste(image, mask=image.getchannel("A"))
            image = flat
        image.save(buffer, "JPEG", quality=jpeg_quality)
    else:
        image.save(buffer, _PIL_FORMAT[fmt], quality=webp_quality)
    return buffer.getvalue()
