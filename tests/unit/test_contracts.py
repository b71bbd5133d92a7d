"""Topic registry and schemas: what the API emits is what the contracts promise."""

from datetime import UTC, datetime
from typing import Any

import pytest
from jsonschema import ValidationError

from catalog_core.domain.model import Product, new_id
from catalog_core.domain.products import ProductDraft
from catalog_schemas import (
    TOPICS,
    Lane,
    UnknownEventType,
    _fast_validator,
    _validator,
    lane_of,
    schema_for,
    topic_for,
    validate_event,
)
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


def mutations(valid: dict[str, Any]) -> list[object]:
    """Breakages of a valid event: each key dropped, each value replaced by ill-typed or out-of-range ones."""
    broken: list[object] = [None, [], "x", 1, {}, {**valid, "unexpected": True}]
    wrongs: tuple[object, ...] = (None, -1, 0, "", "x" * 300, [], {}, 1.5, True, "not-a-uuid")
    for key in valid:
        broken.append({k: v for k, v in valid.items() if k != key})
        for wrong in wrongs:
            broken.append({**valid, key: wrong})
    return broken


def test_the_compiled_validator_agrees_with_jsonschema_on_every_verdict() -> None:
    draft = ProductDraft.model_validate(
        {
            "sku": "TEE-1",
            "name": "Tee",
            "price": "12.50",
            "currency": "EUR",
            "images": ["https://img.example/a.jpg"],
            "variants": [{"sku": "TEE-1-S", "options": {"size": "S"}, "stock": 1}],
        }
    )
    snapshot = Product.create(draft, datetime.now(UTC)).snapshot()
    product_id = snapshot["id"]
    valid: dict[str, dict[str, Any]] = {
        "product.created": snapshot,
        "product.updated": {**snapshot, "version": 2},
        "product.deleted": {"id": product_id, "sku": "TEE-1", "version": 3, "deleted_at": snapshot["updated_at"]},
        "product.enriched": {
            "id": product_id,
            "version": 2,
            "keywords": ["tee"],
            "slug": "tee",
            "category": "apparel/tops",
            "price_band": "budget",
            "completeness": {"score": 0.5, "missing": ["description"]},
        },
    }
    checked = 0
    for event_type, event in valid.items():
        validate_event(event_type, event)  # the sample itself is valid
        for data in mutations(event):
            assert _fast_validator(event_type).is_valid(data) == _validator(event_type).is_valid(data), (
                event_type,
                data,
            )
            checked += 1
    assert checked > 200
