"""What the media service does with the events it consumes: product changes and regeneration requests."""

from collections.abc import Sequence
from dataclasses import dataclass

from jsonschema import ValidationError

from catalog_kit.envelope import EventEnvelope
from catalog_media.domain.regeneration import REGENERATION_REQUESTED, parse_product_id
from catalog_media.service_layer.media_processing import MediaService, ProductImages
from catalog_schemas import Lane, validate_event
from catalog_stream.processor import PermanentFailure

PRODUCT_CHANGES = frozenset({"product.created", "product.updated"})


@dataclass
class MediaEvents:
    """Turns each event into work for the media service; an event that breaks its contract is dead-lettered."""

    media: MediaService

    async def products_changed(self, events: Sequence[EventEnvelope]) -> None:
        """Products were created or updated: bring each one's media in line with its image list.

        Only the newest event of a product in the batch counts: it carries the image list that is current."""
        newest: dict[str, ProductImages] = {}
        for event in events:
            if event.type not in PRODUCT_CHANGES:
                continue
            _check(event)
            data = event.data
            change = ProductImages(
                str(data["id"]), int(data["version"]), [str(u) for u in data["images"]], event.id, event.traceparent
            )
            if change.product_id not in newest or newest[change.product_id].version < change.version:
                newest[change.product_id] = change
        # One partition's records come from one lane.
        lane = events[0].lane if events else Lane.INTERACTIVE
        if newest:
            await self.media.process_products(list(newest.values()), lane)

    async def regeneration_requested(self, event: EventEnvelope) -> None:
        """Derivatives were asked for again: for one product, or (no product id) fanned out to every product."""
        if event.type != REGENERATION_REQUESTED:
            return
        _check(event)
        product_id = event.data["product_id"]
        if product_id is None:
            await self.media.fan_out_regeneration()
        else:
            await self.media.regenerate(parse_product_id(product_id), event_id=event.id)


def _check(event: EventEnvelope) -> None:
    try:
        validate_event(event.type, event.data)
    except ValidationError as exc:
        raise PermanentFailure(f"{event.type} breaks its contract: {exc.message}") from exc
