"""A stored product: the draft's core fields plus identity, version and timestamps."""

import os
import threading
import time
import uuid
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from typing import Any

from catalog_core.domain.currencies import MINOR_UNITS
from catalog_core.domain.products import ProductDraft

RANDOM_BLOCK_BYTES = 4096  # random bits of ~400 ids per system call


class _RandomBytes(threading.local):
    """Bytes from os.urandom, drawn a block at a time per thread: each call lets go of the GIL, and between busy
    threads getting it back costs far more than the call (an import creates tens of thousands of ids)."""

    def __init__(self) -> None:
        self.drop()

    def drop(self) -> None:
        self.block = b""
        self.at = 0

    def take(self, n: int) -> bytes:
        if self.at + n > len(self.block):
            self.block, self.at = os.urandom(RANDOM_BLOCK_BYTES), 0
        self.at += n
        return self.block[self.at - n : self.at]


_random = _RandomBytes()
# A forked child must not hand out the bytes its parent hands out too.
os.register_at_fork(after_in_child=lambda: _random.drop())

_CLEAR_VERSION_AND_VARIANT = ~((0xF << 76) | (0x3 << 62))
_VERSION_7_AND_VARIANT = (0x7 << 76) | (0x2 << 62)


def new_id() -> uuid.UUID:
    """A UUIDv7: time-ordered, so ids sort by creation and index inserts stay at the right edge."""
    millis = time.time_ns() // 1_000_000
    value = (millis << 80) | int.from_bytes(_random.take(10), "big")
    # version 7 in bits 76-79, the RFC 4122 variant (0b10) in bits 62-63
    return uuid.UUID(int=(value & _CLEAR_VERSION_AND_VARIANT) | _VERSION_7_AND_VARIANT)


def format_price(price: Decimal, currency: str) -> str:
    """A price as a decimal string with exactly the currency's minor units (e.g. "19.90", "1200")."""
    return f"{price:.{MINOR_UNITS[currency]}f}"


@dataclass(frozen=True)
class Variant:
    id: uuid.UUID
    sku: str
    options: dict[str, str]
    price: Decimal | None
    stock: int


@dataclass(frozen=True)
class Product:
    """A product as stored; `version` increases by one with every change of its core fields."""

    id: uuid.UUID
    draft: ProductDraft
    version: int
    created_at: datetime
    updated_at: datetime
    variants: tuple[Variant, ...] = field(default=())

    @classmethod
    def create(cls, draft: ProductDraft, now: datetime) -> "Product":
        variants = tuple(Variant(new_id(), v.sku, dict(v.options), v.price, v.stock) for v in draft.variants)
        return cls(new_id(), draft, 1, now, now, variants)

    def revise(self, draft: ProductDraft, now: datetime) -> "Product":
        """The next version with new core fields; variants keep their ids where their SKU stays."""
        ids = {v.sku.lower(): v.id for v in self.variants}
        variants = tuple(
            Variant(ids.get(v.sku.lower()) or new_id(), v.sku, dict(v.options), v.price, v.stock)
            for v in draft.variants
        )
        return replace(self, draft=draft, version=self.version + 1, updated_at=now, variants=variants)

    def snapshot(self) -> dict[str, Any]:
        """The product as JSON: the API's representation and the data of its created/updated events."""
        d = self.draft
        return {
            "id": str(self.id),
            "sku": d.sku,
            "name": d.name,
            "brand": d.brand,
            "description": d.description,
            "price": format_price(d.price, d.currency),
            "currency": d.currency,
            "stock": d.total_stock,
            "attributes": d.attributes,
            "images": list(d.images),
            "status": d.status,
            "variants": [
                {
                    "id": str(v.id),
                    "sku": v.sku,
                    "options": v.options,
                    "price": None if v.price is None else format_price(v.price, d.currency),
                    "stock": v.stock,
                }
                for v in self.variants
            ],
            "version": self.version,
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
        }


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7396 JSON Merge Patch: objects merge key by key, null removes a key, anything else replaces."""
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result
