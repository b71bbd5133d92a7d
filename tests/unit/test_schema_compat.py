"""Released contracts stay compatible: only optional properties and prose may be added within a major version."""

import copy
import json
from pathlib import Path
from typing import Any

from catalog_schemas.compat import check, incompatibilities

RELEASED = Path(__file__).resolve().parents[2] / "schemas" / "released"


def released(name: str) -> dict[str, Any]:
    schema: dict[str, Any] = json.loads((RELEASED / name).read_text())
    return schema


def test_current_schemas_keep_every_released_promise() -> None:
    assert sorted(p.name for p in RELEASED.glob("*.json"))  # something is actually released
    assert check(RELEASED) == []


def test_adding_an_optional_property_or_prose_is_compatible() -> None:
    old = released("product-snapshot.v1.json")
    new = copy.deepcopy(old)
    new["properties"]["gtin"] = {"type": "string"}
    new["properties"]["name"]["description"] = "What shoppers see."
    assert incompatibilities(old, new) == []


def test_breaking_changes_are_refused() -> None:
    old = released("product-snapshot.v1.json")
    removed = copy.deepcopy(old)
    del removed["properties"]["brand"]
    assert incompatibilities(old, removed) == ["/brand: removed"]
    narrowed = copy.deepcopy(old)
    narrowed["properties"]["brand"]["type"] = "string"
    assert incompatibilities(old, narrowed) == ["/brand: type changed"]
    optional = copy.deepcopy(old)
    optional["required"].remove("version")
    assert incompatibilities(old, optional) == ["/version: no longer required"]
    variant = copy.deepcopy(old)
    variant["properties"]["variants"]["items"]["properties"]["stock"]["type"] = "number"
    assert incompatibilities(old, variant) == ["/variants[]/stock: type changed"]


def test_moving_ids_and_spelling_refs_absolutely_is_compatible() -> None:
    old = released("product.created.v1.json")
    new = copy.deepcopy(old)
    new["$id"] = "https://catalog.test/schemas/product.created.v1.json"
    new["$ref"] = "https://catalog.test/schemas/product-snapshot.v1.json"
    assert incompatibilities(old, new) == []
    other = copy.deepcopy(old)
    other["$ref"] = "product-snapshot.v2.json"
    assert incompatibilities(old, other) == ["/: $ref changed"]
