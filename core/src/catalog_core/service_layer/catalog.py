"""Product commands: each one a single transaction holding the product rows and their outbox event.

This is the one write path for core product data; the importer uses it too.
"""

import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy.orm import Session

from catalog_core.adapters.repository import ProductRepository
from catalog_core.domain.errors import ProductNotFound, VersionMismatch
from catalog_core.domain.model import Product, merge_patch
from catalog_core.domain.products import ProductDraft
from catalog_kit.outbox import OutboxWriter, PendingEvent

AGGREGATE = "product"


class Upserted(StrEnum):
    """What an upsert did to a product."""

    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"  # the draft equals the stored core fields: no version, no event


class ProductCatalog:
    """Creates, revises and deletes products, announcing each change through the outbox."""

    def __init__(self, session: Session, outbox: OutboxWriter, traceparent: str | None = None) -> None:
        self.session = session
        self.products = ProductRepository(session)
        self.outbox = outbox
        self.traceparent = traceparent

    def create(self, draft: ProductDraft) -> tuple[Product, dict[str, Any]]:
        """The new product and its snapshot (the event's data, also the API's answer)."""
        product = Product.create(draft, _now())
        self.products.add(product)
        snapshot = product.snapshot()
        self._announce("product.created", product.id, snapshot)
        return product, snapshot

    def get(self, product_id: uuid.UUID) -> Product:
        product = self.products.get(product_id)
        if product is None:
            raise ProductNotFound(product_id)
        return product

    def patch(self, product_id: uuid.UUID, patch: Mapping[str, Any], if_match: set[str] | None) -> Product:
        """Apply a JSON merge patch to the core fields; an unchanged result is not a new version."""
        current = self._lock(product_id, if_match)
        merged = merge_patch(current.draft.model_dump(mode="json"), dict(patch))
        return self.revise(current, ProductDraft.model_validate(merged))

    def revise(self, current: Product, draft: ProductDraft) -> Product:
        """Store `draft` as the next version of `current` (whose row the caller has locked)."""
        if draft == current.draft:
            return current
        product = current.revise(draft, _now())
        self.products.save(product)
        self._announce("product.updated", product.id, product.snapshot())
        return product

    def reannounce(self, product_id: uuid.UUID) -> bool:
        """Announce the product as it is now again (`product.updated`, same version): heals what a lost event left
        behind downstream; consumers treat it as the duplicate it is wherever they are up to date."""
        product = self.products.get(product_id)
        if product is None:
            return False
        self._announce("product.updated", product.id, product.snapshot())
        return True

    def add_image(self, product_id: uuid.UUID, url: str, if_match: set[str] | None = None) -> Product:
        """Append `url` to the product's images (an uploaded image); already listed: no new version."""
        current = self._lock(product_id, if_match)
        if url in current.draft.images:
            return current
        fields = current.draft.model_dump(mode="json")
        return self.revise(current, ProductDraft.model_validate({**fields, "images": [*fields["images"], url]}))

    def upsert_many(self, items: Sequence[tuple[ProductDraft, Product | None]]) -> list[tuple[Product, Upserted]]:
        """Create or revise products by SKU, a statement per table for the whole batch (the importer's path).

        Each item is a draft and the stored product with the draft's SKU — locked by the caller, e.g. with
        `products.get_by_skus(..., for_update=True)` — or None. A draft equal to the stored product writes nothing.
        Raises DuplicateSku (nothing of the batch is written then) if a SKU belongs to another product.
        """
        now = _now()
        results: list[tuple[Product, Upserted]] = []
        for draft, current in items:
            if draft.variants and draft.stock != draft.total_stock:
                draft = draft.model_copy(update={"stock": draft.total_stock})  # as stored: variants' sum
            if current is None:
                results.append((Product.create(draft, now), Upserted.CREATED))
            elif draft == current.draft:
                results.append((current, Upserted.UNCHANGED))
            else:
                results.append((current.revise(draft, now), Upserted.UPDATED))
        self.products.insert_many([p for p, outcome in results if outcome is Upserted.CREATED])
        self.products.save_many([p for p, outcome in results if outcome is Upserted.UPDATED])
        events = [
            PendingEvent(f"product.{outcome}", AGGREGATE, str(p.id), p.snapshot())
            for p, outcome in results
            if outcome is not Upserted.UNCHANGED
        ]
        self.outbox.copy_many(self.session, events, self.traceparent)
        return results

    def delete(self, product_id: uuid.UUID, if_match: set[str] | None) -> None:
        product = self._lock(product_id, if_match)
        self.products.remove(product_id)
        self._announce(
            "product.deleted",
            product_id,
            {
                "id": str(product_id),
                "sku": product.draft.sku,
                "version": product.version + 1,
                "deleted_at": _now().isoformat(),
            },
        )

    def _lock(self, product_id: uuid.UUID, if_match: set[str] | None) -> Product:
        product = self.products.get(product_id, for_update=True)
        if product is None:
            raise ProductNotFound(product_id)
        if if_match is not None and "*" not in if_match and str(product.version) not in if_match:
            raise VersionMismatch(", ".join(sorted(if_match)), product.version)
        return product

    def _announce(self, event_type: str, product_id: uuid.UUID, data: Mapping[str, Any]) -> None:
        self.outbox.add(
            self.session,
            event_type=event_type,
            aggregate_type=AGGREGATE,
            aggregate_id=str(product_id),
            data=data,
            traceparent=self.traceparent,
        )


def _now() -> datetime:
    return datetime.now(UTC)
