"""Media rules: derivative geometry, dominant colour, which images need work, the event and the upload checks."""

import pytest

from catalog_api.domain.images import sniff_image_type, upload_problem
from catalog_media.domain.colour import dominant_colour
from catalog_media.domain.geometry import Renditions, fit_long_side
from catalog_media.domain.images import (
    Derivative,
    Failure,
    ImageOutcome,
    ImageRejected,
    MediaResult,
    Reason,
    StoredImage,
    media_key,
    plan_media,
    reason_of,
)
from catalog_schemas import validate_event

PID = "0190f3a0-0000-7000-8000-000000000001"
RENDITIONS = Renditions((200, 1200, 600))
FP = RENDITIONS.fingerprint()


@pytest.mark.parametrize(
    ("size", "long_side", "expected"),
    [
        ((4000, 3000), 1200, (1200, 900)),
        ((3000, 4000), 1200, (900, 1200)),
        ((4000, 3000), 200, (200, 150)),
        ((1000, 3), 200, (200, 1)),  # never collapses to zero
        ((800, 600), 1200, (800, 600)),  # never upscaled
        ((1200, 1200), 1200, (1200, 1200)),
        ((1999, 1000), 600, (600, 300)),
    ],
)
def test_derivatives_fit_the_long_side_without_upscaling(
    size: tuple[int, int], long_side: int, expected: tuple[int, int]
) -> None:
    assert fit_long_side(*size, long_side) == expected


def test_sizes_run_largest_first_so_each_is_made_from_the_previous_one() -> None:
    assert RENDITIONS.sizes == (1200, 600, 200)
    assert (RENDITIONS.largest, RENDITIONS.smallest) == (1200, 200)
    assert Renditions((200, 600, 1200)).fingerprint() == FP
    assert Renditions((200, 600)).fingerprint() != FP
    assert Renditions((200,), ("jpeg",)).fingerprint() != Renditions((200,), ("webp",)).fingerprint()
    with pytest.raises(ValueError, match="positive"):
        Renditions((0,))
    with pytest.raises(ValueError, match="formats"):
        Renditions((10,), ("gif",))  # type: ignore[arg-type]


def test_dominant_colour_is_the_most_common_not_the_average() -> None:
    pixels = [(250, 0, 0)] * 60 + [(0, 0, 250)] * 40
    assert dominant_colour(pixels) == "#fa0000"  # the average would be a purple no pixel has
    # Near-identical shades count as one colour, reported as their mean.
    assert dominant_colour([(16, 16, 16), (18, 18, 18), (200, 200, 200)]) == "#111111"
    with pytest.raises(ValueError, match="without pixels"):
        dominant_colour([])


def processed(url: str, renditions: str = FP) -> ImageOutcome:
    derivatives = (
        Derivative(600, "jpeg", 600, 400, "media/aa/big.jpg"),
        Derivative(200, "jpeg", 200, 133, "media/bb/small.jpg"),
        Derivative(200, "webp", 200, 133, "media/cc/small.webp"),
    )
    return ImageOutcome(
        url,
        "processed",
        renditions,
        sha256="a" * 64,
        width=900,
        height=600,
        dominant_color="#102030",
        derivatives=derivatives,
    )


def test_only_new_outdated_or_retryable_images_need_work() -> None:
    stored = [
        StoredImage(0, processed("https://a/1.jpg")),
        StoredImage(1, processed("https://a/2.jpg", renditions="r1:100:webp")),
        StoredImage(2, ImageOutcome.failed("https://a/3.jpg", FP, Reason.UNREACHABLE)),
        StoredImage(3, ImageOutcome.failed("https://a/4.jpg", FP, Reason.NOT_AN_IMAGE)),
        StoredImage(4, ImageOutcome.failed("https://a/6.jpg", FP, Reason.TIMEOUT)),
        StoredImage(5, ImageOutcome.failed("https://a/7.jpg", FP, Reason.BLOCKED_ADDRESS)),
    ]
    urls = [
        "https://a/4.jpg",
        "https://a/1.jpg",
        "https://a/2.jpg",
        "https://a/3.jpg",
        "https://a/5.jpg",
        "https://a/5.jpg",
        "https://a/6.jpg",
        "https://a/7.jpg",
    ]
    plan = plan_media(urls, stored, FP)
    assert plan.todo == ("https://a/2.jpg", "https://a/3.jpg", "https://a/5.jpg", "https://a/6.jpg")  # each once
    # A bad image stays bad (same bytes), and so does a refused address: the policy answers the same again.
    assert set(plan.reuse) == {"https://a/1.jpg", "https://a/4.jpg", "https://a/7.jpg"}
    assert plan_media(urls, stored, FP, force=True).todo == tuple(dict.fromkeys(urls))
    assert plan_media([], stored, FP).todo == ()


def test_failures_are_told_as_coarse_reasons_and_logged_with_their_cause() -> None:
    rejected = ImageRejected(Failure.TOO_MANY_PIXELS, "50000x50000")
    assert rejected.reason is Reason.TOO_LARGE
    assert rejected.cause == "too_many_pixels: 50000x50000"
    outcome = ImageOutcome.failed("u", FP, rejected.reason, rejected.cause)
    assert (outcome.reason, outcome.cause, outcome.sha256) == ("too_large", "too_many_pixels: 50000x50000", None)
    assert outcome == ImageOutcome.failed("u", FP, Reason.TOO_LARGE)  # the cause is not part of what is stored
    assert {failure.reason for failure in Failure} == set(Reason)  # every reason has a cause, every cause a reason
    assert ImageOutcome.failed("u", FP, Reason.UNREACHABLE).retryable
    assert ImageOutcome.failed("u", FP, Reason.TIMEOUT).retryable
    assert not ImageOutcome.failed("u", FP, Reason.NOT_AN_IMAGE).retryable


@pytest.mark.parametrize(
    ("stored", "reason"),
    [
        ("blocked_address", Reason.BLOCKED_ADDRESS),
        ("timeout", Reason.TIMEOUT),
        ("unreachable: RemoteProtocolError: Server disconnected", Reason.UNREACHABLE),  # rows from before
        ("too_many_pixels: 50000x50000", Reason.TOO_LARGE),
        ("http_error: HTTP 404", Reason.NOT_AN_IMAGE),
        ("whatever", None),
        (None, None),
    ],
)
def test_stored_reasons_old_and_new_are_read_as_coarse_reasons(stored: str | None, reason: Reason | None) -> None:
    assert reason_of(stored) is reason


def test_the_event_names_public_urls_and_the_first_processed_thumbnail() -> None:
    result = MediaResult(
        PID,
        3,
        (
            ImageOutcome.failed("https://a/0.jpg", FP, Reason.NOT_AN_IMAGE, "truncated: image file is truncated"),
            processed("https://a/1.jpg"),
        ),
    )
    data = result.to_event_data("http://cdn.example/media/")
    validate_event("product.media_processed", data)
    assert data["thumbnail_url"] == "http://cdn.example/media/media/cc/small.webp"  # smallest, WebP first
    assert data["images"][0] == {
        "position": 0,
        "url": "https://a/0.jpg",
        "status": "failed",
        "reason": "not_an_image",
        "sha256": None,
        "width": None,
        "height": None,
        "dominant_color": None,
        "derivatives": [],
    }
    assert data["images"][1]["derivatives"][0]["url"] == "http://cdn.example/media/media/aa/big.jpg"
    assert MediaResult(PID, 1, ()).to_event_data("http://x/media")["thumbnail_url"] is None


def test_own_media_urls_map_back_to_their_keys() -> None:
    assert media_key("http://127.0.0.1:8000/media", "http://127.0.0.1:8000/media/originals/ab/x.jpg") == (
        "originals/ab/x.jpg"
    )
    assert media_key("http://127.0.0.1:8000/media/", "http://127.0.0.1:8000/media/a") == "a"
    assert media_key("http://127.0.0.1:8000/media", "http://127.0.0.1:8000/mediax/a") is None
    assert media_key("http://127.0.0.1:8000/media", "http://127.0.0.1:8000/media/") is None


@pytest.mark.parametrize(
    ("declared", "head", "problem"),
    [
        ("image/jpeg", b"\xff\xd8\xff\xe0rest", None),
        ("image/png; charset=x", b"\x89PNG\r\n\x1a\n\0\0\0\0", None),
        ("image/webp", b"RIFF\0\0\0\0WEBPVP8 ", None),
        ("image/gif", b"GIF89a", "not one of"),
        (None, b"\xff\xd8\xff", "not one of"),
        ("image/png", b"\xff\xd8\xff\xe0", "the bytes are image/jpeg"),
        ("image/jpeg", b"<html>", "not an image"),
    ],
)
def test_uploads_must_be_what_they_claim(declared: str | None, head: bytes, problem: str | None) -> None:
    found = upload_problem(declared, head)
    assert found is None if problem is None else (found is not None and problem in found)


def test_sniffing_needs_the_whole_signature() -> None:
    assert sniff_image_type(b"RIFF\0\0\0\0WEB") is None
    assert sniff_image_type(b"") is None
