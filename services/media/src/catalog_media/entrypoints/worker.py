"""The `catalog-media` command: derivatives for every new or changed product image, and regeneration requests."""

from concurrent.futures import ThreadPoolExecutor

from jsonschema import ValidationError

from catalog_kit.db import make_engine, make_session_factory
from catalog_kit.envelope import EventEnvelope
from catalog_kit.object_store import object_store
from catalog_kit.outbox import OutboxWriter
from catalog_media.adapters.fetcher import ImageFetcher
from catalog_media.adapters.media_store import REGENERATION_REQUESTED, MediaStore, parse_product_id
from catalog_media.adapters.pipeline import Limits, apply_pixel_limit
from catalog_media.service import ImageWorker, MediaService
from catalog_media.settings import MediaSettings
from catalog_schemas import validate_event
from catalog_schemas.topics import MEDIA, PRODUCT
from catalog_stream.processor import PermanentFailure, Processor

SOURCE = "/catalog/media"
PRODUCT_CHANGES = frozenset({"product.created", "product.updated"})


def build(settings: MediaSettings) -> Processor:
    apply_pixel_limit(settings.media_max_pixels)
    objects = object_store(settings)
    sessions = make_session_factory(make_engine(settings.database_url, pool_size=settings.media_threads + 2))
    store = MediaStore(sessions, OutboxWriter(SOURCE, settings.public_base_url), settings.media_base_url)
    fetcher = ImageFetcher(
        objects,
        settings.media_base_url,
        max_bytes=settings.media_max_bytes,
        timeout_s=settings.media_fetch_timeout_s,
        deadline_s=settings.media_fetch_deadline_s,
    )
    worker = ImageWorker(
        fetcher,
        objects,
        settings.renditions(),
        Limits(settings.media_max_pixels, settings.media_max_side),
        store.processed_content,
        settings.media_jpeg_quality,
        settings.media_webp_quality,
    )
    # Pillow releases the GIL while decoding, resizing and encoding: threads keep the event loop (and so the
    # consumer group's heartbeats) free while bounding how many images are in memory at once.
    media = MediaService(worker, store, ThreadPoolExecutor(settings.media_threads, thread_name_prefix="media"))
    processor = Processor("media", settings)

    async def on_product(event: EventEnvelope) -> None:
        if event.type not in PRODUCT_CHANGES:
            return
        _check(event)
        data = event.data
        await media.process_product(
            str(data["id"]), int(data["version"]), [str(u) for u in data["images"]], event_id=event.id
        )

    async def on_request(event: EventEnvelope) -> None:
        if event.type != REGENERATION_REQUESTED:
            return
        _check(event)
        product_id = event.data["product_id"]
        if product_id is None:
            await media.fan_out_regeneration()
        else:
            await media.regenerate(parse_product_id(product_id), event_id=event.id)

    processor.agent(PRODUCT, on_product)
    processor.agent(MEDIA, on_request)
    return processor


def _check(event: EventEnvelope) -> None:
    try:
        validate_event(event.type, event.data)
    except ValidationError as exc:
        raise PermanentFailure(f"{event.type} breaks its contract: {exc.message}") from exc


def main() -> None:
    build(MediaSettings()).run()
