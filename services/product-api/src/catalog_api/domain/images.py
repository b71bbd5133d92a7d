"""Rules for uploaded product images: which types are accepted, told by their first bytes, not by a header."""

# Content type → file suffix of the stored original.
IMAGE_TYPES = {"image/jpeg": ".jpg", "image/png": ".png", "image/webp": ".webp"}
SNIFF_BYTES = 12


def sniff_image_type(head: bytes) -> str | None:
    """The content type the magic bytes announce (JPEG, PNG, WebP), or None."""
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if len(head) >= SNIFF_BYTES and head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    return None


def upload_problem(declared: str | None, head: bytes) -> str | None:
    """Why an upload is not an accepted image (None: it is one): its declared type and its bytes must agree."""
    declared = (declared or "").split(";")[0].strip().lower()
    if declared not in IMAGE_TYPES:
        return f"content type {declared or 'none'!r} is not one of {', '.join(IMAGE_TYPES)}"
    actual = sniff_image_type(head)
    if actual != declared:
        return f"declared {declared} but the bytes are {actual or 'not an image of an accepted type'}"
    return None
