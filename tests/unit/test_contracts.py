"""Topic registry and schemas: what the API emits is what the contracts promise."""

from datetime import UTC, datetime

import pytest
from jsonschema import ValidationError

from catalog_core.domain.model import Product, new_id
from catalog_core.domain.products import ProductDraft
from catalog_schemas import TOPICS, Lane, UnknownEventType, lane_of, schema_for, topic_for, validate_event
from catalog_schemas.topics import BULK_LANES, PRODUCT, PRODUCT_BULK


def test_every_event_type_has_one_topic_per_lane_and_a_schema() -> None:
    lanes = set(BULK_LANES.values())
    types = [t for topic in TOPICS if topic not in lanes for t in topic.event_types]
    assert len(types) == len(set(types))
    for event_type in types:
        assert schema_for(event_type)["title"] == event_type


def test_a_bulk_lane_carries_the_same_contract_and_key() -> None:
    for name, bulk in BULK_LANES.items():
        [interactive] = [t for t in TOPICS if t.name == name]
        assert (bulk.event_types, bulk.key, bulk.partitions) == (
            interactive.event_types,
            interactive.key,
            interactive.partitions,
        )
    assert topic_for("product.updated", Lane.BULK) is PRODUCT_BULK
    assert topic_for("product.updated") is PRODUCT
    assert topic_for("import.requested", Lane.BULK).name == "catalog.import.v1"  # no bulk lane: the one topic
    assert lane_of(PRODUCT_BULK.name) is Lane.BULK
    assert lane_of(PRODUCT.name) is Lane.INTERACTIVE


def test_unknown_event_types_fail_loudly() -> None:
    with pytest.raises(UnknownEventType):
        topic_for("product.exploded")


def test_product_snapshot_matches_the_created_schema() -> None:
    draft = ProductDraft.model_validate(
        {
            "sku": "TEE-1",
            "name": "Tee",
            "price": "1200",
            "currency": "JPY",
            "attributes": {"sizes": ["S", "M"]},
            "images": ["https://img.example/a.jpg"],
            "variants": [{"sku": "TEE-1-S", "options": {"size": "S"}, "stock": 1, "price": "1300"}],
        }
    )
    snapshot = Product.create(draft, datetime.now(UTC)).snapshot()
    validate_event("product.created", snapshot)
    assert snapshot["price"] == "1200"
    assert snapshot["variants"][0]["price"] == "1300"


def test_schema_refuses_a_snapshot_without_version() -> None:
    draft = ProductDraft.model_validate({"sku": "TEE-1", "name": "Tee", "price": "1", "currency": "EUR"})
    snapshot = Product.create(draft, datetime.now(UTC)).snapshot()
    del snapshot["version"]
    with pytest.raises(ValidationError):
        validate_event("product.updated", snapshot)


def test_ids_are_time_ordered_uuid7() -> None:
    ids = [new_id() for _ in range(50)]
    assert all(i.version == 7 for i in ids)
    assert [i.bytes[:6] for i in ids] == sorted(i.bytes[:6] for i in ids)
