"""Fetches an image's original bytes: over HTTP through the platform's outbound policy (no internal addresses, one
deadline, a size cap) with a content-type check, or — for our own uploads — straight from the object store."""

import httpx

from catalog_kit.object_store import ObjectNotFound, ObjectStore
from catalog_kit.outbound import OutboundClient, OutboundError, read_body
from catalog_kit.outbound_policy import OutboundReason
from catalog_media.domain.images import Failure, ImageRejected, media_key

ALLOWED_TYPES = frozenset({"image/jpeg", "image/png", "image/webp"})
ACCEPT = ", ".join(sorted(ALLOWED_TYPES))

_FAILURE = {
    OutboundReason.BLOCKED_ADDRESS: Failure.BLOCKED_ADDRESS,
    OutboundReason.UNREACHABLE: Failure.UNREACHABLE,
    OutboundReason.TIMEOUT: Failure.TIMEOUT,
    OutboundReason.TOO_LARGE: Failure.TOO_MANY_BYTES,
}


class ImageFetcher:
    """One image at a time per calling thread; the outbound client's connection pool is shared and thread-safe."""

    def __init__(
        self, store: ObjectStore, media_base_url: str, client: OutboundClient, *, max_bytes: int, deadline_s: float
    ) -> None:
        self.store = store
        self.media_base_url = media_base_url
        self.client = client
        self.max_bytes = max_bytes
        self.deadline_s = deadline_s

    def fetch(self, url: str) -> bytes:
        """The bytes of the image at `url`; ImageRejected says why there are none."""
        key = media_key(self.media_base_url, url)
        if key is not None:
            return self._from_store(key)
        try:
            with self.client.stream("GET", url, deadline_s=self.deadline_s, headers={"Accept": ACCEPT}) as response:
                _check(response)
                return read_body(response, self.max_bytes)
        except OutboundError as exc:
            raise ImageRejected(_FAILURE[exc.reason], exc.detail) from exc

    def close(self) -> None:
        self.client.close()

    def _from_store(self, key: str) -> bytes:
        try:
            with self.store.open(key) as stream:
                data = stream.read(self.max_bytes + 1)
        except (ObjectNotFound, ValueError) as exc:
            raise ImageRejected(Failure.BAD_SOURCE, f"no stored object {key!r}") from exc
        if len(data) > self.max_bytes:
            raise ImageRejected(Failure.TOO_MANY_BYTES, f"more than {self.max_bytes} bytes")
        return data


def _check(response: httpx.Response) -> None:
    """Refuse an answer that is not an image before reading its body."""
    if response.status_code >= 500 or response.status_code == 429:
        raise ImageRejected(Failure.UNREACHABLE, f"HTTP {response.status_code}")
    if response.status_code != 200:
        raise ImageRejected(Failure.HTTP_ERROR, f"HTTP {response.status_code}")
    content_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type not in ALLOWED_TYPES:
        raise ImageRejected(Failure.WRONG_CONTENT_TYPE, f"{content_type or 'none'} is not one of JPEG, PNG, WebP")
