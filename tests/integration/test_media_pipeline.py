"""The Pillow pipeline on generated images: sizes, formats, orientation, metadata, and hostile input refused
before it is decoded."""

import io
import os
import resource

import pytest
from PIL import Image

from catalog_media.adapters.pipeline import Limits, apply_pixel_limit, render
from catalog_media.domain.geometry import Renditions
from catalog_media.domain.images import Failure, ImageRejected
from tests.images import jpeg, png, png_claiming, truncated_jpeg

# The over-cap case must be refused by our own header check, not by Pillow's warning.
pytestmark = pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")

RENDITIONS = Renditions((1200, 600, 200))
LIMITS = Limits(max_pixels=50_000_000, max_side=20_000)


@pytest.fixture(autouse=True, scope="module")
def pixel_limit() -> None:
    apply_pixel_limit(LIMITS.max_pixels)


def opened(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def test_every_size_in_webp_and_jpeg_with_the_long_side_fitted() -> None:
    rendered = render(jpeg(2400, 1600), RENDITIONS, LIMITS)
    assert (rendered.width, rendered.height) == (2400, 1600)
    made = [(d.size, d.format, d.width, d.height) for d in rendered.derivatives]
    assert made == [
        (1200, "webp", 1200, 800),
        (1200, "jpeg", 1200, 800),
        (600, "webp", 600, 400),
        (600, "jpeg", 600, 400),
        (200, "webp", 200, 133),
        (200, "jpeg", 200, 133),
    ]
    for d in rendered.derivatives:
        image = opened(d.data)
        assert image.format == {"webp": "WEBP", "jpeg": "JPEG"}[d.format]
        assert image.size == (d.width, d.height)
    assert rendered.dominant_color.startswith("#")


def test_small_originals_are_never_upscaled() -> None:
    rendered = render(jpeg(300, 150), RENDITIONS, LIMITS)
    assert [(d.size, d.width, d.height) for d in rendered.derivatives[::2]] == [
        (1200, 300, 150),
        (600, 300, 150),
        (200, 200, 100),
    ]


def test_exif_orientation_is_applied_then_all_metadata_stripped() -> None:
    # Stored 800x400 landscape, tagged "rotate 90° clockwise to display": the product shows a portrait.
    rendered = render(jpeg(800, 400, orientation=6), RENDITIONS, LIMITS)
    assert (rendered.width, rendered.height) == (400, 800)
    for d in rendered.derivatives:
        image = opened(d.data)
        assert image.height > image.width
        assert dict(image.getexif()) == {}  # no orientation, no camera make
        assert "icc_profile" not in image.info


def test_transparent_png_keeps_alpha_in_webp_and_is_flattened_on_white_in_jpeg() -> None:
    rendered = render(png(400, 400, colour=(10, 120, 240, 0)), Renditions((100,)), LIMITS)
    webp, jpg = (opened(d.data) for d in rendered.derivatives)
    assert webp.mode == "RGBA"
    assert jpg.mode == "RGB"
    assert jpg.getpixel((50, 50)) == pytest.approx((255, 255, 255), abs=3)


def test_the_dominant_colour_is_the_images_colour() -> None:
    rendered = render(png(300, 200, mode="RGB", colour=(10, 120, 240)), Renditions((100,)), LIMITS)
    assert rendered.dominant_color == "#0a78f0"


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@pytest.mark.parametrize(
    ("data", "failure"),
    [
        (png_claiming(50_000, 50_000), Failure.TOO_MANY_PIXELS),  # 2.5 gigapixels in ~100 bytes
        (png_claiming(8_000, 7_000), Failure.TOO_MANY_PIXELS),  # over our cap, under Pillow's bomb error
        (png_claiming(100_000, 10), Failure.TOO_LARGE_DIMENSIONS),  # few pixels, absurd side
        (truncated_jpeg(), Failure.TRUNCATED),
        (os.urandom(4096), Failure.NOT_AN_IMAGE),
        (b"", Failure.NOT_AN_IMAGE),
        (b"\xff\xd8\xff\xe0" + os.urandom(2000), Failure.DECODE_ERROR),  # a JPEG signature, then garbage
    ],
    ids=["bomb-50k", "over-cap", "huge-side", "truncated", "random", "empty", "jpeg-garbage"],
)
def test_hostile_input_is_refused_with_a_reason(data: bytes, failure: Failure) -> None:
    before = peak_rss_mib()
    with pytest.raises(ImageRejected) as rejected:
        render(data, RENDITIONS, LIMITS)
    assert rejected.value.failure is failure, rejected.value.cause
    assert rejected.value.cause.startswith(f"{failure.value}: ")  # the detail is logged; clients get the reason
    assert rejected.value.reason is failure.reason
    assert peak_rss_mib() - before < 100  # refused from the header: nothing was decoded


def test_formats_other_than_jpeg_png_webp_are_refused() -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (10, 10)).save(buffer, "GIF")
    with pytest.raises(ImageRejected) as rejected:
        render(buffer.getvalue(), RENDITIONS, LIMITS)
    assert rejected.value.failure is Failure.UNSUPPORTED_FORMAT
