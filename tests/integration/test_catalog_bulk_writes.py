"""The importer's write path (`ProductCatalog.upsert_many`, COPY underneath) stores what the single writes store:
the same product rows, SKU registry and outbox contract, and the same DuplicateSku for a SKU held elsewhere."""

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from catalog_core.adapters.tables import product_skus, products, variants
from catalog_core.domain.errors import DuplicateSku
from catalog_core.domain.products import ProductDraft
from catalog_core.service_layer.catalog import ProductCatalog, Upserted
from catalog_kit.db import make_engine, make_session_factory
from catalog_kit.outbox import OutboxWriter, PendingEvent, outbox
from catalog_schemas import Lane, validate_event

pytestmark = pytest.mark.integration

BULK = OutboxWriter("/test/importer", "https://catalog.example", lane=Lane.BULK)


@pytest.fixture
def sessions(fresh_database: str) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(fresh_database, pool_size=2)
    try:
        yield make_session_factory(engine)
    finally:
        engine.dispose()


def tee(sku: str, *sizes: str) -> ProductDraft:
    return ProductDraft.model_validate(
        {
            "sku": sku,
            "name": "Linen tee\ttab, comma, \\ backslash",
            "brand": "Acme",
            "description": "line one\nline two",
            "price": "19.90",
            "currency": "EUR",
            "attributes": {"material": "linen", "weight": 0.2, "tags": ["a", "b"]},
            "images": ["https://img.example/tee.jpg"],
            "variants": [
                {"sku": f"{sku}-{size}", "options": {"size": size}, "stock": i, "price": "21.50" if i else None}
                for i, size in enumerate(sizes)
            ],
        }
    )


def without_identity(row: Any) -> dict[str, Any]:
    return {k: v for k, v in row._mapping.items() if k not in ("id", "event_id", "created_at")}


def test_a_bulk_create_stores_the_product_its_skus_and_a_bulk_lane_event(sessions: sessionmaker[Session]) -> None:
    draft = tee("BULK-1", "S", "M")
    with sessions() as session, session.begin():
        [(product, outcome)] = ProductCatalog(session, BULK).upsert_many([(draft, None)])
    assert outcome is Upserted.CREATED
    with sessions() as session:
        stored = ProductCatalog(session, BULK).get(product.id)
        assert stored.draft == draft.model_copy(update={"stock": 1})  # stored stock: the variants' sum
        assert stored.draft.price == Decimal("19.90")
        assert [v.id for v in stored.variants] == [v.id for v in product.variants]
        skus = session.execute(select(product_skus.c.sku_key).where(product_skus.c.product_id == product.id))
        assert sorted(skus.scalars()) == ["bulk-1", "bulk-1-m", "bulk-1-s"]
        [event] = session.execute(select(outbox)).all()
    assert (event.event_type, event.topic, event.lane, event.aggregate_id) == (
        "product.created",
        "catalog.product.bulk.v1",
        1,
        str(product.id),
    )
    assert event.payload == product.snapshot()
    validate_event(event.event_type, event.payload)
    assert event.headers["ce_lane"] == "bulk"
    assert event.headers["ce_id"] == event.event_id
    assert event.headers["ce_dataschema"].startswith("https://catalog.example/schemas/")


def test_copy_many_writes_the_rows_add_many_writes(sessions: sessionmaker[Session]) -> None:
    data = {"id": "p-1", "name": "tab\there", "nested": {"list": [1, 2.5, None, True]}}
    event = PendingEvent("product.updated", "product", "p-1", data)
    with sessions() as session, session.begin():
        [added] = BULK.add_many(session, [event], traceparent="00-" + "1" * 32 + "-" + "2" * 16 + "-01")
        [copied] = BULK.copy_many(session, [event], traceparent="00-" + "1" * 32 + "-" + "2" * 16 + "-01")
    with sessions() as session:
        first, second = session.execute(select(outbox).order_by(outbox.c.id)).all()
    assert (first.event_id, second.event_id) == (added.id, copied.id)
    volatile = ("ce_id", "ce_time")
    first_headers = {k: v for k, v in first.headers.items() if k not in volatile}
    assert first_headers == {k: v for k, v in second.headers.items() if k not in volatile}
    assert {**without_identity(first), "headers": None} == {**without_identity(second), "headers": None}


def test_a_sku_held_by_another_product_fails_the_batch_naming_the_field(sessions: sessionmaker[Session]) -> None:
    with sessions() as session, session.begin():
        ProductCatalog(session, BULK).create(tee("OWNER-1", "S"))
    with sessions() as session, session.begin():
        catalog = ProductCatalog(session, BULK)
        with pytest.raises(DuplicateSku) as raised:
            catalog.upsert_many([(tee("NEW-1", "S"), None), (tee("owner-1-s"), None)])  # held as a variant SKU
        session.rollback()
    assert (raised.value.sku, raised.value.field) == ("owner-1-s", "sku")
    with sessions() as session:
        assert session.execute(select(func.count()).select_from(products)).scalar_one() == 1
        assert session.execute(select(func.count()).select_from(variants)).scalar_one() == 1
        assert session.execute(select(func.count()).select_from(outbox)).scalar_one() == 1
