"""Products in PostgreSQL: load, store and list them with their variants and catalog-wide SKUs."""

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Row, delete, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from catalog_api.adapters.tables import product_skus, products, variants
from catalog_api.domain.errors import DuplicateSku
from catalog_api.domain.model import Product, Variant
from catalog_api.domain.products import ProductDraft, VariantDraft


class ProductRepository:
    """Reads and writes products inside the caller's transaction."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, product_id: uuid.UUID, *, for_update: bool = False) -> Product | None:
        query = select(products).where(products.c.id == product_id)
        if for_update:
            query = query.with_for_update()  # serialises writers of one product: versions and outbox ids in order
        row = self.session.execute(query).one_or_none()
        return None if row is None else self._load([row])[0]

    def page(
        self,
        *,
        brand: str | None,
        status: str | None,
        updated_since: datetime | None,
        after: uuid.UUID | None,
        limit: int,
    ) -> list[Product]:
        """One page ordered by id (ids are time-ordered UUIDv7), starting after the cursor's id."""
        query = select(products).order_by(products.c.id).limit(limit)
        if brand is not None:
            query = query.where(products.c.brand == brand)
        if status is not None:
            query = query.where(products.c.status == status)
        if updated_since is not None:
            query = query.where(products.c.updated_at >= updated_since)
        if after is not None:
            query = query.where(products.c.id > after)
        return self._load(self.session.execute(query).all())

    def add(self, product: Product) -> None:
        self.session.execute(insert(products).values(id=product.id, **_core_columns(product)))
        self._claim_skus(product, releasing=False)
        self._insert_variants(product)

    def save(self, product: Product) -> None:
        """Store a new version of an existing product (the caller holds its row lock)."""
        self.session.execute(update(products).where(products.c.id == product.id).values(**_core_columns(product)))
        self.session.execute(delete(variants).where(variants.c.product_id == product.id))
        self._claim_skus(product)
        self._insert_variants(product)

    def remove(self, product_id: uuid.UUID) -> None:
        self.session.execute(delete(products).where(products.c.id == product_id))

    def _claim_skus(self, product: Product, *, releasing: bool = True) -> None:
        """Take every SKU of the product in the catalog-wide registry (releasing those it no longer uses);
        raise DuplicateSku if one is taken by another product."""
        wanted = {sku.lower(): sku for sku in product.draft.skus()}
        if releasing:
            self.session.execute(
                delete(product_skus).where(
                    product_skus.c.product_id == product.id, product_skus.c.sku_key.not_in(list(wanted))
                )
            )
        claimed = self.session.execute(
            pg_insert(product_skus)
            .values([{"sku_key": key, "product_id": product.id} for key in wanted])
            .on_conflict_do_update(  # a no-op update that returns the key only when this product owns it
                index_elements=[product_skus.c.sku_key],
                set_={"product_id": product_skus.c.product_id},
                where=product_skus.c.product_id == product.id,
            )
            .returning(product_skus.c.sku_key)
        ).scalars()
        taken = set(wanted) - set(claimed)
        if taken:
            fields = {s.lower(): f for s, f in _sku_fields(product.draft)}
            first = next(key for key in wanted if key in taken)
            raise DuplicateSku(wanted[first], fields[first])

    def _insert_variants(self, product: Product) -> None:
        if product.variants:
            self.session.execute(
                insert(variants),
                [
                    {
                        "id": v.id,
                        "product_id": product.id,
                        "position": i,
                        "sku": v.sku,
                        "options": v.options,
                        "price": v.price,
                        "stock": v.stock,
                    }
                    for i, v in enumerate(product.variants)
                ],
            )

    def _load(self, rows: Sequence[Row[Any]]) -> list[Product]:
        ids = [row.id for row in rows]
        by_product: dict[uuid.UUID, list[Row[Any]]] = {i: [] for i in ids}
        if ids:
            query = select(variants).where(variants.c.product_id.in_(ids)).order_by(variants.c.position)
            for v in self.session.execute(query):
                by_product[v.product_id].append(v)
        return [_product(row, by_product[row.id]) for row in rows]


def _core_columns(product: Product) -> dict[str, Any]:
    d = product.draft
    return {
        "sku": d.sku,
        "name": d.name,
        "brand": d.brand,
        "description": d.description,
        "price": d.price,
        "currency": d.currency,
        "stock": d.total_stock,
        "attributes": d.attributes,
        "images": list(d.images),
        "status": d.status,
        "version": product.version,
        "created_at": product.created_at,
        "updated_at": product.updated_at,
    }


def _sku_fields(draft: ProductDraft) -> list[tuple[str, str]]:
    return [(draft.sku, "sku"), *((v.sku, f"variants[{i}].sku") for i, v in enumerate(draft.variants))]


def _product(row: Row[Any], variant_rows: list[Row[Any]]) -> Product:
    draft = ProductDraft.model_construct(  # stored data was validated on the way in
        sku=row.sku,
        name=row.name,
        brand=row.brand,
        description=row.description,
        price=row.price,
        currency=row.currency,
        stock=row.stock,
        attributes=row.attributes,
        images=row.images,
        status=row.status,
        variants=[_variant_draft(v) for v in variant_rows],
    )
    return Product(
        id=row.id,
        draft=draft,
        version=row.version,
        created_at=row.created_at,
        updated_at=row.updated_at,
        variants=tuple(Variant(v.id, v.sku, v.options, v.price, v.stock) for v in variant_rows),
    )


def _variant_draft(v: Row[Any]) -> VariantDraft:
    return VariantDraft.model_construct(sku=v.sku, options=v.options, price=v.price, stock=v.stock)
