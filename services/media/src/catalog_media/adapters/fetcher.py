"""Fetches an image's original bytes: over HTTP with timeouts, a size cap and a content-type check, or — for
our own uploads — straight from the object store."""

import time
from urllib.parse import urljoin, urlsplit

import httpx

from catalog_kit.object_store import ObjectNotFound, ObjectStore
from catalog_media.domain.images import Failure, ImageRejected, media_key

ALLOWED_TYPES = frozenset({"image/jpeg", "image/png", "image/webp"})
MAX_REDIRECTS = 3
_CHUNK = 64 * 1024


class ImageFetcher:
    """One image at a time per calling thread; the HTTP connection pool is shared and thread-safe."""

    def __init__(
        self,
        store: ObjectStore,
        media_base_url: str,
        *,
        max_bytes: int,
        timeout_s: float,
        deadline_s: float,
    ) -> None:
        self.store = store
        self.media_base_url = media_base_url
        self.max_bytes = max_bytes
        self.deadline_s = deadline_s
        # Redirects are followed by hand: each hop must stay on http(s) and count against one deadline.
        self.client = httpx.Client(
            timeout=httpx.Timeout(timeout_s),
            follow_redirects=False,
            headers={"Accept": ", ".join(sorted(ALLOWED_TYPES)), "User-Agent": "catalog-media/1"},
        )

    def fetch(self, url: str) -> bytes:
        """The bytes of the image at `url`; ImageRejected says why there are none."""
        key = media_key(self.media_base_url, url)
        if key is not None:
            return self._from_store(key)
        deadline = time.monotonic() + self.deadline_s
        for _ in range(MAX_REDIRECTS + 1):
            _check_scheme(url)
            try:
                with self.client.stream("GET", url) as response:
                    if response.is_redirect:
                        url = urljoin(url, response.headers.get("location", ""))
                        continue
                    return self._read(response, deadline)
            except httpx.TimeoutException as exc:
                raise ImageRejected(Failure.UNREACHABLE, f"timed out ({type(exc).__name__})") from exc
            except httpx.TransportError as exc:
                raise ImageRejected(Failure.UNREACHABLE, f"{type(exc).__name__}: {exc}") from exc
        raise ImageRejected(Failure.BAD_SOURCE, f"more than {MAX_REDIRECTS} redirects")

    def close(self) -> None:
        self.client.close()

    def _read(self, response: httpx.Response, deadline: float) -> bytes:
        if response.status_code >= 500 or response.status_code == 429:
            raise ImageRejected(Failure.UNREACHABLE, f"HTTP {response.status_code}")
        if response.status_code != 200:
            raise ImageRejected(Failure.HTTP_ERROR, f"HTTP {response.status_code}")
        content_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type not in ALLOWED_TYPES:
            raise ImageRejected(Failure.WRONG_CONTENT_TYPE, f"{content_type or 'none'} is not one of JPEG, PNG, WebP")
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            raise ImageRejected(Failure.TOO_MANY_BYTES, f"{declared} bytes, more than {self.max_bytes}")
        body = bytearray()
        for chunk in response.iter_bytes(_CHUNK):
            body += chunk
            if len(body) > self.max_bytes:
                raise ImageRejected(Failure.TOO_MANY_BYTES, f"more than {self.max_bytes} bytes")
            if time.monotonic() > deadline:
                raise ImageRejected(Failure.UNREACHABLE, f"download took longer than {self.deadline_s}s")
        return bytes(body)

    def _from_store(self, key: str) -> bytes:
        try:
            with self.store.open(key) as stream:
                data = stream.read(self.max_bytes + 1)
        except (ObjectNotFound, ValueError) as exc:
            raise ImageRejected(Failure.BAD_SOURCE, f"no stored object {key!r}") from exc
        if len(data) > self.max_bytes:
            raise ImageRejected(Failure.TOO_MANY_BYTES, f"more than {self.max_bytes} bytes")
        return data


def _check_scheme(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ImageRejected(Failure.BAD_SOURCE, f"not an http(s) URL: {url[:200]}")
