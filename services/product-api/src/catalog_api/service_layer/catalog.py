"""Product commands: each one a single transaction holding the product rows and their outbox event.

This is the one write path for core product data; the importer uses it too.
"""

import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from catalog_kit.outbox import OutboxWriter
from sqlalchemy.orm import Session

from catalog_api.adapters.repository import ProductRepository
from catalog_api.domain.errors import ProductNotFound, VersionMismatch
from catalog_api.domain.model import Product, merge_patch
from catalog_api.domain.products import ProductDraft

AGGREGATE = "product"


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
