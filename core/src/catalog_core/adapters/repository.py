"""Products in PostgreSQL: load, store and list them with their variants and catalog-wide SKUs."""

import json
import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import BindParameter, Row, Text, any_, bindparam, delete, func, insert, select, tuple_, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from catalog_core.adapters.tables import product_skus, products, variants
from catalog_core.domain.errors import DuplicateSku
from catalog_core.domain.model import Product, Variant
from catalog_core.domain.products import ProductDraft, VariantDraft
from catalog_kit.bulk import copy_rows, recordset


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

    def get_by_skus(self, skus: Iterable[str], *, for_update: bool = False) -> dict[str, Product]:
        """The products whose own SKU (not a variant's) is one of `skus`, keyed by the lower-cased SKU.

        With `for_update` their rows are locked in id order, so batch writers cannot deadlock each other.
        """
        keys = sorted({sku.lower() for sku in skus})
        if not keys:
            return {}
        # Candidates come from the SKU registry's primary key: every product's own SKU is registered there. On
        # `lower(sku) = ANY(...)` alone the planner picks a scan of all products, which grows with the catalog.
        wanted = _texts(keys)
        registered = select(product_skus.c.product_id).where(product_skus.c.sku_key == any_(wanted))
        query = (
            select(products)
            .where(products.c.id.in_(registered), func.lower(products.c.sku) == any_(wanted))
            .order_by(products.c.id)
        )
        if for_update:
            query = query.with_for_update(of=products)
        return {p.draft.sku.lower(): p for p in self._load(self.session.execute(query).all())}

    def sku_owners(self, skus: Iterable[str]) -> dict[str, uuid.UUID]:
        """Which product holds each of `skus` (as its own SKU or a variant's), keyed by the lower-cased SKU."""
        keys = sorted({sku.lower() for sku in skus})
        if not keys:
            return {}
        query = select(product_skus.c.sku_key, product_skus.c.product_id).where(
            product_skus.c.sku_key == any_(_texts(keys))
        )
        return {row.sku_key: row.product_id for row in self.session.execute(query)}

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
        self.add_many([product])

    def add_many(self, new: Sequence[Product]) -> None:
        """Insert new products, a statement per table for all of them."""
        if not new:
            return
        rows, names, params = recordset(products, [{"id": p.id, **_core_columns(p)} for p in new])
        self.session.execute(insert(products).from_select(names, rows), params)
        self._claim_skus(new, releasing=False)
        self._insert_variants(new)

    def insert_many(self, new: Sequence[Product]) -> None:
        """`add_many` for large batches (an import chunk): the same rows, products and variants written with COPY."""
        if not new:
            return
        copy_rows(self.session, products, PRODUCT_COLUMNS, (_product_row(p) for p in new))
        self._claim_skus(new, releasing=False, copy=True)
        copy_rows(
            self.session,
            variants,
            VARIANT_COLUMNS,
            ((v.id, p.id, i, v.sku, _json(v.options), v.price, v.stock) for p in new for i, v in enumerate(p.variants)),
        )

    def save(self, product: Product) -> None:
        self.save_many([product])

    def save_many(self, changed: Sequence[Product]) -> None:
        """Store new versions of existing products (the caller holds their row locks)."""
        if not changed:
            return
        self.session.execute(
            update(products).where(products.c.id == bindparam("product_id")),
            [{"product_id": p.id, **_core_columns(p)} for p in changed],
        )
        self.session.execute(delete(variants).where(variants.c.product_id.in_([p.id for p in changed])))
        self._claim_skus(changed)
        self._insert_variants(changed)

    def remove(self, product_id: uuid.UUID) -> None:
        self.session.execute(delete(products).where(products.c.id == product_id))

    def _claim_skus(self, items: Sequence[Product], *, releasing: bool = True, copy: bool = False) -> None:
        """Take every SKU of the products in the catalog-wide registry (releasing those they no longer use);
        raise DuplicateSku if one is taken by another product. `copy`: new products, whose SKUs are usually free
        (the importer checked): COPY them, and only if one is held find out which with the statement below."""
        wanted: dict[str, tuple[Product, str, str]] = {}  # sku key -> (product, SKU, field)
        for product in items:
            for sku, field in _sku_fields(product.draft):
                holder = wanted.setdefault(sku.lower(), (product, sku, field))
                if holder[0].id != product.id:  # two products of one batch want the same SKU
                    raise DuplicateSku(sku, field)
        if copy:
            try:
                with self.session.begin_nested():  # the failed COPY rolls back alone
                    copy_rows(
                        self.session,
                        product_skus,
                        ("sku_key", "product_id"),
                        ((key, p.id) for key, (p, _, _) in wanted.items()),
                    )
                return
            except IntegrityError:
                pass  # a SKU is held by another product: the claim below names it
        if releasing:
            self.session.execute(
                delete(product_skus).where(
                    product_skus.c.product_id.in_([p.id for p in items]),
                    tuple_(product_skus.c.product_id, product_skus.c.sku_key).not_in(
                        [(p.id, key) for key, (p, _, _) in wanted.items()]
                    ),
                )
            )
        rows, names, params = recordset(
            product_skus, [{"sku_key": key, "product_id": str(p.id)} for key, (p, _, _) in wanted.items()]
        )
        claim = pg_insert(product_skus).from_select(names, rows)
        claimed = self.session.execute(
            claim.on_conflict_do_update(  # a no-op update that returns the key only when its product owns it
                index_elements=[product_skus.c.sku_key],
                set_={"product_id": product_skus.c.product_id},
                where=product_skus.c.product_id == claim.excluded.product_id,
            ).returning(product_skus.c.sku_key),
            params,
        ).scalars()
        taken = set(wanted) - set(claimed)
        if taken:
            _, sku, field = next(holder for key, holder in wanted.items() if key in taken)
            raise DuplicateSku(sku, field)

    def _insert_variants(self, items: Sequence[Product]) -> None:
        rows = [
            {
                "id": v.id,
                "product_id": product.id,
                "position": i,
                "sku": v.sku,
                "options": v.options,
                "price": v.price,
                "stock": v.stock,
            }
            for product in items
            for i, v in enumerate(product.variants)
        ]
        if rows:
            select_rows, names, params = recordset(variants, rows)
            self.session.execute(insert(variants).from_select(names, select_rows), params)

    def _load(self, rows: Sequence[Row[Any]]) -> list[Product]:
        ids = [row.id for row in rows]
        by_product: dict[uuid.UUID, list[Row[Any]]] = {i: [] for i in ids}
        if ids:
            query = select(variants).where(variants.c.product_id.in_(ids)).order_by(variants.c.position)
            for v in self.session.execute(query):
                by_product[v.product_id].append(v)
        return [_product(row, by_product[row.id]) for row in rows]


PRODUCT_COLUMNS = (
    "id",
    "sku",
    "name",
    "brand",
    "description",
    "price",
    "currency",
    "stock",
    "attributes",
    "images",
    "status",
    "version",
    "created_at",
    "updated_at",
)
VARIANT_COLUMNS = ("id", "product_id", "position", "sku", "options", "price", "stock")


def _product_row(product: Product) -> tuple[Any, ...]:
    """The product's row in the order of PRODUCT_COLUMNS (JSON columns as JSON text, for COPY)."""
    d = product.draft
    return (
        product.id,
        d.sku,
        d.name,
        d.brand,
        d.description,
        d.price,
        d.currency,
        d.total_stock,
        _json(d.attributes),
        _json(list(d.images)),
        d.status,
        product.version,
        product.created_at,
        product.updated_at,
    )


# One encoder for every value: `json.dumps` with arguments builds a new encoder on each call.
_json = json.JSONEncoder(default=str, separators=(",", ":")).encode


def _texts(values: list[str]) -> BindParameter[Any]:
    """One array parameter (`= ANY(:keys)`): the statement stays the same whatever the number of keys."""
    return bindparam("keys", values, ARRAY(Text))


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
