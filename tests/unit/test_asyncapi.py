"""The AsyncAPI document: generated from the registry, committed as generated, valid AsyncAPI 3.0, self-contained."""

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft7Validator, Draft202012Validator, ValidationError
from referencing import Registry, Resource
from referencing.exceptions import NoSuchResource
from referencing.jsonschema import DRAFT7

from catalog_core.domain.model import Product
from catalog_core.domain.products import ProductDraft
from catalog_schemas import TOPICS, schema_file_name, schema_names, schema_uri
from catalog_schemas.asyncapi import COMMITTED, bundled, document, render

SPEC = Path(__file__).resolve().parents[2] / "schemas" / "vendor" / "asyncapi" / "3.0.0.json"


def offline(uri: str) -> Resource:
    """Tests fetch nothing: a reference that is not in the registry is a failure, not a download."""
    raise NoSuchResource(uri)


def asyncapi_validator() -> Draft7Validator:
    spec = json.loads(SPEC.read_text())
    # The official schema is draft-07 with every definition embedded under its own $id: crawling finds them all.
    registry: Registry = Registry(retrieve=offline).with_resource(spec["$id"], DRAFT7.create_resource(spec)).crawl()  # type: ignore[call-arg]
    return Draft7Validator(spec, registry=registry)


def test_the_committed_document_is_what_the_registry_generates() -> None:
    assert COMMITTED.read_text() == render(document()), "run: python -m catalog_schemas.asyncapi --write"


def test_the_document_is_valid_asyncapi_3() -> None:
    errors = [f"{e.json_path}: {e.message[:200]}" for e in asyncapi_validator().iter_errors(document())]
    assert errors == []


def test_the_validation_would_catch_a_broken_document() -> None:
    broken = document()
    broken["operations"]["send.catalog.product.v1"]["action"] = "publish"  # AsyncAPI 2 wording
    assert list(asyncapi_validator().iter_errors(broken))


def test_every_topic_is_a_channel_and_every_event_type_a_message() -> None:
    doc = document()
    assert [c["address"] for c in doc["channels"].values()] == [t.name for t in TOPICS]
    for topic in TOPICS:
        channel = doc["channels"][topic.name]
        assert channel["bindings"]["kafka"]["partitions"] == topic.partitions
        assert doc["operations"][f"send.{topic.name}"]["action"] == "send"
        for event_type in topic.event_types:
            message = doc["components"]["messages"][event_type]
            assert event_type in channel["messages"]
            assert message["payload"] == {"$ref": f"#/components/schemas/{event_type}.v1"}
    assert set(doc["channels"]["catalog.dlq.indexer.v1"]["messages"]) == {"deadLetter"}


def test_ids_follow_the_base_url() -> None:
    doc = document("https://api.shop.test/")
    schema = doc["components"]["schemas"]["product.created.v1"]["schema"]
    assert schema["$id"] == "https://api.shop.test/schemas/product.created.v1.json"
    assert (
        schema["$defs"]["product-snapshot.v1.json"]["$id"] == "https://api.shop.test/schemas/product-snapshot.v1.json"
    )
    assert "catalog.example/schemas" not in json.dumps(doc)


def product_snapshot() -> dict[str, Any]:
    draft = ProductDraft.model_validate({"sku": "TEE-1", "name": "Tee", "price": "12.00", "currency": "EUR"})
    return Product.create(draft, datetime.now(UTC)).snapshot()


def test_bundled_schemas_validate_without_fetching_anything() -> None:
    for name in schema_names():
        Draft202012Validator.check_schema(bundled(name))
    validator = Draft202012Validator(bundled(schema_file_name("product.created")), registry=Registry(retrieve=offline))  # type: ignore[call-arg]
    validator.validate(product_snapshot())
    with pytest.raises(ValidationError):
        validator.validate({**product_snapshot(), "sku": "not a sku!"})  # checked by the embedded snapshot schema


def test_every_schema_id_is_absolute_under_the_canonical_base() -> None:
    for topic in TOPICS:
        for event_type in topic.event_types:
            assert bundled(schema_file_name(event_type))["$id"] == schema_uri(event_type)
    assert all(bundled(name)["$id"].startswith("https://catalog.example/schemas/") for name in schema_names())
