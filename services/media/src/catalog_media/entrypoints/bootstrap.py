"""The media service's composition root: picks the adapters for the settings and wires them into the service layer."""

from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import Engine

from catalog_kit.db import make_engine, make_session_factory
from catalog_kit.object_store import object_store
from catalog_kit.outbound import OutboundClient
from catalog_kit.outbox import OutboxWriter
from catalog_media.adapters.fetcher import ImageFetcher
from catalog_media.adapters.media_store import MediaStore
from catalog_media.adapters.metrics import MediaMetrics
from catalog_media.adapters.pipeline import Limits, PillowRenderer, apply_pixel_limit
from catalog_media.service_layer.media_events import MediaEvents
from catalog_media.service_layer.media_processing import ImageWorker, MediaService
from catalog_media.settings import MediaSettings
from catalog_schemas.topics import MEDIA, PRODUCT
from catalog_stream.processor import Processor

SOURCE = "/catalog/media"


def media_store(settings: MediaSettings, engine: Engine) -> MediaStore:
    """The media fields in the catalog database, with the media service's outbox."""
    return MediaStore(
        make_session_factory(engine), OutboxWriter(SOURCE, settings.public_base_url), settings.media_base_url
    )


def build(settings: MediaSettings) -> Processor:
    """The media stream processor: product changes and regeneration requests go to `MediaEvents`."""
    apply_pixel_limit(settings.media_max_pixels)
    objects = object_store(settings)
    store = media_store(settings, make_engine(settings.database_url, pool_size=settings.media_threads + 2))
    # Image URLs come from whoever holds a write key: fetched only under the outbound policy (OUTBOUND_ALLOW).
    client = OutboundClient(
        settings.outbound_policy(),
        timeout_s=settings.media_fetch_timeout_s,
        headers={"User-Agent": "catalog-media/1"},
        max_connections=2 * settings.media_threads,
    )
    fetcher = ImageFetcher(
        objects,
        settings.media_base_url,
        client,
        max_bytes=settings.media_max_bytes,
        deadline_s=settings.media_fetch_deadline_s,
    )
    renderer = PillowRenderer(
        Limits(settings.media_max_pixels, settings.media_max_side),
        jpeg_quality=settings.media_jpeg_quality,
        webp_quality=settings.media_webp_quality,
    )
    worker = ImageWorker(fetcher, objects, settings.renditions(), renderer, store.processed_content)
    # Pillow releases the GIL while decoding, resizing and encoding: threads keep the event loop (and so the
    # consumer group's heartbeats) free while bounding how many images are in memory at once.
    executor = ThreadPoolExecutor(settings.media_threads, thread_name_prefix="media")
    media = MediaService(worker, store, executor, MediaMetrics())
    events = MediaEvents(media)
    processor = Processor("media", settings)
    processor.batch_agent(PRODUCT, events.products_changed)
    processor.agent(MEDIA, events.regeneration_requested)
    return processor
