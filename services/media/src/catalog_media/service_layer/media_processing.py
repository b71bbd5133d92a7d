"""Processing a product's images: plan what is new, make derivatives off the event loop, store them guarded."""

import asyncio
import hashlib
import io
import logging
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlsplit

from catalog_kit.object_store import ObjectStore, content_key
from catalog_media.adapters.media_store import SaveOutcome
from catalog_media.adapters.pipeline import Rendered
from catalog_media.domain.geometry import Renditions
from catalog_media.domain.images import (
    Derivative,
    ImageOutcome,
    ImageRejected,
    MediaResult,
    StoredImage,
    plan_media,
)
from catalog_schemas import Lane

log = logging.getLogger("catalog_media")

DERIVATIVE_PREFIX = "media"
_SUFFIX = {"webp": ".webp", "jpeg": ".jpg"}
KnownContent = Callable[[str, str], ImageOutcome | None]


class ImageSource(Protocol):
    """Where originals come from: the bytes of an image URL, or ImageRejected."""

    def fetch(self, url: str) -> bytes: ...


class DerivativeRenderer(Protocol):
    """Decodes an original and encodes its derivatives, or raises ImageRejected."""

    def render(self, data: bytes, renditions: Renditions) -> Rendered: ...


class MediaRecords(Protocol):
    """The media fields of products in the catalog database, and the regeneration requests."""

    def stored_images(self, product_id: str) -> list[StoredImage]: ...

    def with_media(self, product_ids: Sequence[str]) -> set[str]: ...

    def current_images(self, product_id: str) -> tuple[int, list[str]] | None: ...

    def save(
        self, result: MediaResult, lane: Lane = Lane.INTERACTIVE, traceparent: str | None = None
    ) -> SaveOutcome: ...

    def product_ids(self, after: str | None, limit: int) -> list[str]: ...

    def request_regeneration(self, product_ids: Sequence[str | None]) -> None: ...


@dataclass
class ImageWorker:
    """One image, start to end: fetch, hash, reuse or render, store. Blocking: run it in a worker thread."""

    fetcher: ImageSource
    store: ObjectStore
    renditions: Renditions
    renderer: DerivativeRenderer
    known_content: KnownContent  # (sha256, renditions fingerprint) → an earlier outcome for the same bytes

    def process(self, url: str, force: bool = False) -> ImageOutcome:
        fingerprint = self.renditions.fingerprint()
        try:
            data = self.fetcher.fetch(url)
        except ImageRejected as exc:
            return ImageOutcome.failed(url, fingerprint, exc.reason, exc.cause)
        digest = hashlib.sha256(data).hexdigest()
        known = None if force else self.known_content(digest, fingerprint)
        # Reuse only what the store still holds: the rows may outlive their objects (a restored database).
        if known is not None and all(self.store.exists(d.key) for d in known.derivatives):
            return known.for_url(url)
        try:
            rendered = self.renderer.render(data, self.renditions)
        except ImageRejected as exc:
            # Without the digest: published, it would tell what an address answered.
            return ImageOutcome.failed(url, fingerprint, exc.reason, exc.cause)
        del data  # the original is not needed while the derivatives are written
        derivatives = tuple(
            Derivative(d.size, d.format, d.width, d.height, self._store(d.data, _SUFFIX[d.format]))
            for d in rendered.derivatives
        )
        return ImageOutcome(
            url=url,
            status="processed",
            renditions=fingerprint,
            sha256=digest,
            width=rendered.width,
            height=rendered.height,
            dominant_color=rendered.dominant_color,
            derivatives=derivatives,
        )

    def _store(self, data: bytes, suffix: str) -> str:
        """Content-addressed: equal bytes, equal key, so a key once written never changes."""
        key = content_key(hashlib.sha256(data).hexdigest(), DERIVATIVE_PREFIX, suffix)
        if not self.store.exists(key):
            self.store.put(key, io.BytesIO(data))  # atomic: a reader sees no object or the whole one
        return key


class MediaObserver(Protocol):
    """Told about image work as it happens (the metrics)."""

    def started(self, images: int) -> None: ...

    def ended(self, images: int) -> None: ...

    def finished(self, made: Sequence[ImageOutcome], reused: int) -> None: ...


@dataclass
class MediaService:
    """Brings a product's media rows in line with its image list."""

    worker: ImageWorker
    store: MediaRecords
    executor: Executor  # bounded: at most that many images are decoded at once
    observer: MediaObserver | None = None

    async def process_products(self, changes: Sequence["ProductImages"], lane: Lane) -> None:
        """A batch of product changes: one query finds the few with media to process, each is then processed.

        Most changes (an import's rows) have no images and had none: they cost a share of one query."""
        held = await asyncio.to_thread(self.store.with_media, [c.product_id for c in changes])
        for change in changes:
            if change.urls or change.product_id in held:
                await self.process_product(
                    change.product_id,
                    change.version,
                    change.urls,
                    event_id=change.event_id,
                    lane=lane,
                    traceparent=change.traceparent,
                )

    async def process_product(
        self,
        product_id: str,
        version: int,
        urls: list[str],
        *,
        force: bool = False,
        event_id: str = "",
        lane: Lane = Lane.INTERACTIVE,
        traceparent: str | None = None,
    ) -> SaveOutcome:
        """Bring the product's media in line with `urls`; its product.media_processed continues `traceparent`."""
        stored = await asyncio.to_thread(self.store.stored_images, product_id)
        if not urls and not stored:  # most product changes: no images, none before — nothing to write
            return SaveOutcome.UNCHANGED
        plan = plan_media(urls, stored, self.worker.renditions.fingerprint(), force)
        loop = asyncio.get_running_loop()
        if self.observer is not None:
            self.observer.started(len(plan.todo))
        try:
            made = await asyncio.gather(
                *(loop.run_in_executor(self.executor, self.worker.process, url, force) for url in plan.todo)
            )
        finally:
            if self.observer is not None:
                self.observer.ended(len(plan.todo))
        outcomes = {**plan.reuse, **dict(zip(plan.todo, made, strict=True))}
        result = MediaResult(product_id, version, tuple(outcomes[url] for url in urls))
        saved = await asyncio.to_thread(self.store.save, result, lane, traceparent)
        if self.observer is not None:
            self.observer.finished(made, len(plan.reuse))
        failed = [o for o in made if o.status == "failed"]
        log.info(
            "media " + saved.value,
            extra={
                "event_id": event_id,
                "product_id": product_id,
                "version": version,
                "images": len(urls),
                "processed_now": len(made) - len(failed),
                "failed_now": len(failed),
                "reused": len(plan.reuse),
                "forced": force,
            },
        )
        for outcome in failed:
            # The only place the exact cause is kept: clients see the coarse reason.
            log.warning(
                "image failed",
                extra={
                    "event_id": event_id,
                    "product_id": product_id,
                    "url_host": _host_of(outcome.url),
                    "url": outcome.url[:300],
                    "reason": outcome.reason,
                    "cause": outcome.cause,
                },
            )
        return saved

    async def regenerate(self, product_id: str, event_id: str = "") -> SaveOutcome:
        """Make the product's derivatives again from its current image list, even for content seen before."""
        current = await asyncio.to_thread(self.store.current_images, product_id)
        if current is None:
            return SaveOutcome.GONE
        version, urls = current
        # Regeneration is bulk work: its results travel in the bulk lane.
        return await self.process_product(product_id, version, urls, force=True, event_id=event_id, lane=Lane.BULK)

    async def fan_out_regeneration(self, page_size: int = 500) -> int:
        """Turn a request about every product into one request per product (spread over the partitions)."""
        after: str | None = None
        requested = 0
        while ids := await asyncio.to_thread(self.store.product_ids, after, page_size):
            await asyncio.to_thread(self.store.request_regeneration, list(ids))
            requested += len(ids)
            after = ids[-1]
        log.info("regeneration fanned out", extra={"products": requested})
        return requested


@dataclass(frozen=True)
class ProductImages:
    """A product change as the media service sees it: the image list of one version."""

    product_id: str
    version: int
    urls: list[str]
    event_id: str = ""
    traceparent: str | None = None  # the trace of the event it came from


def _host_of(url: str) -> str:
    try:
        return (urlsplit(url).hostname or "")[:200]
    except ValueError:
        return ""
