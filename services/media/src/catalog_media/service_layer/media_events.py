"""What the media service does with the events it consumes: product changes and regeneration requests."""

from dataclasses import dataclass

from jsonschema import ValidationError

from catalog_kit.envelope import EventEnvelope
from catalog_media.domain.regeneration import REGENERATION_REQUESTED, parse_product_id
from catalog_media.service_layer.media_processing import MediaService
from catalog_schemas import validate_event
from catalog_stream.processor import PermanentFailure

PRODUCT_CHANGES = frozenset({"product.created", "product.updated"})


@dataclass
class MediaEvents:
    """Turns each event into work for the media service; an event that breaks its contract is dead-lettered."""

    media: MediaService

    async def product_changed(self, event: EventEnvelope) -> None:
        """A product was created or updated: bring its media in line with its image list."""
        if event.type not in PRODUCT_CHANGES:
            return
        _check(event)
        data = event.data
        await self.media.process_product(
            str(data["id"]), int(data["version"]), [str(u) for u in data["images"]], event_id=event.id
        )

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
