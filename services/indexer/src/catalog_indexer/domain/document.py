"""The search document of a product, assembled from parts that arrive separately and out of order.

Each part carries its own version; a part is applied only when it is newer than the one the document holds,
so duplicates and reordering change nothing.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

EnrichmentStatus = Literal["pending", "complete", "degraded"]


@dataclass(frozen=True)
class CorePart:
    """The product's own fields, from product.created / product.updated."""

    product_id: str
    version: int
    sku: str
    skus: tuple[str, ...]
    name: str
    brand: str | None
    description: str | None
    price: Decimal
    price_text: str
    currency: str
    status: str
    created_at: str
    updated_at: str

    @classmethod
    def from_snapshot(cls, data: Mapping[str, Any]) -> "CorePart":
        variant_skus = [str(v["sku"]) for v in data.get("variants", [])]
        return cls(
            product_id=str(data["id"]),
            version=int(data["version"]),
            sku=str(data["sku"]),
            skus=tuple(dict.fromkeys(s.lower() for s in [str(data["sku"]), *variant_skus])),
            name=str(data["name"]),
            brand=data.get("brand"),
            description=data.get("description"),
            price=Decimal(str(data["price"])),
            price_text=str(data["price"]),
            currency=str(data["currency"]),
            status=str(data["status"]),
            created_at=str(data["created_at"]),
            updated_at=str(data["updated_at"]),
        )


@dataclass(frozen=True)
class Tombstone:
    """A deletion, from product.deleted: it outranks every core part of an equal or lower version."""

    product_id: str
    version: int

    @classmethod
    def from_event(cls, data: Mapping[str, Any]) -> "Tombstone":
        return cls(product_id=str(data["id"]), version=int(data["version"]))


@dataclass(frozen=True)
class EnrichmentPart:
    """Derived fields, from product.enriched; `version` is the core version they were computed from."""

    product_id: str
    version: int
    keywords: tuple[str, ...]
    category: str | None
    slug: str
    price_band: str
    completeness: float
    # Orders results of the same version (the enricher's count of stored results; 0 in events from before it).
    revision: int = 0
    degraded: bool = False  # computed without the external provider

    @classmethod
    def from_event(cls, data: Mapping[str, Any]) -> "EnrichmentPart":
        return cls(
            product_id=str(data["id"]),
            version=int(data["version"]),
            keywords=tuple(str(k) for k in data["keywords"]),
            category=data.get("category"),
            slug=str(data["slug"]),
            price_band=str(data["price_band"]),
            completeness=float(data["completeness"]["score"]),
            revision=int(data.get("revision") or 0),
            degraded=bool(data.get("degraded")),
        )

    @property
    def rank(self) -> tuple[int, int]:
        return self.version, self.revision


@dataclass(frozen=True)
class MediaPart:
    """Media fields, from product.media_processed; `version` is the core version whose image list was processed."""

    product_id: str
    version: int
    thumbnail_url: str | None

    @classmethod
    def from_event(cls, data: Mapping[str, Any]) -> "MediaPart":
        return cls(product_id=str(data["id"]), version=int(data["version"]), thumbnail_url=data.get("thumbnail_url"))


DocumentPart = CorePart | Tombstone | EnrichmentPart | MediaPart
INDEXED_TYPES = frozenset(
    {"product.created", "product.updated", "product.deleted", "product.enriched", "product.media_processed"}
)


def part_of(event_type: str, data: Mapping[str, Any]) -> DocumentPart | None:
    """The document part an event carries; None for event types the search model does not use."""
    if event_type in ("product.created", "product.updated"):
        return CorePart.from_snapshot(data)
    if event_type == "product.deleted":
        return Tombstone.from_event(data)
    if event_type == "product.enriched":
        return EnrichmentPart.from_event(data)
    if event_type == "product.media_processed":
        return MediaPart.from_event(data)
    return None


def fold(parts: Iterable[DocumentPart]) -> list[DocumentPart]:
    """One part per product and kind, the one that applying `parts` one by one in order would leave in effect.

    Core parts and tombstones compete for the same slot: the highest version wins, and a tombstone outranks a core
    part of an equal version. Enrichments compete by (version, revision). Of equal ranks the first is kept (the
    read model ignores an equal one) except for media, where a later part of the same version replaces the earlier
    one, as its `<=` guard does. A batch needs this because one statement may change each document only once.
    """
    core: dict[str, CorePart | Tombstone] = {}
    enrichment: dict[str, EnrichmentPart] = {}
    media: dict[str, MediaPart] = {}
    for part in parts:
        key = part.product_id.lower()  # the same UUID may be spelt in either case
        match part:
            case CorePart() | Tombstone():
                held_core = core.get(key)
                if held_core is None or _core_rank(part) > _core_rank(held_core):
                    core[key] = part
            case EnrichmentPart():
                held_enrichment = enrichment.get(key)
                if held_enrichment is None or part.rank > held_enrichment.rank:
                    enrichment[key] = part
            case MediaPart():
                held_media = media.get(key)
                if held_media is None or part.version >= held_media.version:
                    media[key] = part
    return [*core.values(), *enrichment.values(), *media.values()]


def _core_rank(part: CorePart | Tombstone) -> tuple[int, bool]:
    return part.version, isinstance(part, Tombstone)


def enrichment_status(core_version: int, enrichment_version: int, degraded: bool = False) -> EnrichmentStatus:
    """Complete once the enrichment was computed from the current core version (or a later one); degraded when that
    result was computed without the external provider (the enricher computes it again once the provider is back)."""
    if not enrichment_version >= core_version > 0:
        return "pending"
    return "degraded" if degraded else "complete"
