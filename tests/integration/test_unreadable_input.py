"""Input the API can not use is a 422 naming the field, not a server error or a bare 400: NUL characters (which
PostgreSQL text can not hold), bodies that are not UTF-8 and JSON nested too deep to parse."""

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from catalog_indexer.entrypoints.search_api import create_app as create_search_api
from catalog_indexer.settings import IndexerSettings


def fields(response_json: dict[str, object]) -> list[object]:
    return [e["field"] for e in response_json["errors"]]  # type: ignore[attr-defined]


def test_query_and_path_parameters(api: TestClient) -> None:
    listed = api.get("/products", params={"brand": "Ac\x00me"})
    assert listed.status_code == 422
    assert listed.headers["content-type"] == "application/problem+json"
    assert fields(listed.json()) == ["brand"]
    assert api.get("/schemas/x%00.json").status_code == 422


def test_json_bodies_name_the_field(api: TestClient, unique: str) -> None:
    body = {
        "sku": f"NUL-{unique}",
        "name": "Tee",
        "price": "1.00",
        "currency": "EUR",
        "attributes": {"colour": "bl\x00ue", "k\x00": "v"},
        "variants": [{"sku": f"NUL-{unique}-S", "options": {"size": "\x00"}, "stock": 1}],
    }
    created = api.post("/products", json=body)
    assert created.status_code == 422
    assert fields(created.json()) == ["attributes.colour", "attributes.k\\0", "variants[0].options.size"]


def test_search_parameters(engine: Engine) -> None:
    with TestClient(create_search_api(IndexerSettings(), engine)) as search:
        response = search.get("/search", params={"q": "shirt\x00"})
    assert response.status_code == 422
    assert fields(response.json()) == ["q"]


def test_a_body_that_is_not_utf8_is_a_validation_problem(api: TestClient) -> None:
    response = api.post("/products", content=b'{"name": "\xff"}', headers={"Content-Type": "application/json"})
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["errors"] == [
        {"field": "body", "message": "the body is not UTF-8 encoded JSON", "code": "json_invalid"}
    ]


@pytest.mark.parametrize("depth", [990, 10_000])
def test_a_json_body_nested_too_deep_is_a_validation_problem(api: TestClient, depth: int) -> None:
    # The JSON parser recurses once per level: this deep, it gives up (RecursionError) before any field is read.
    deep = "[" * depth + "]" * depth
    response = api.post("/products", content=deep, headers={"Content-Type": "application/json"})
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["errors"] == [
        {"field": "body", "message": "the JSON body nests too deeply", "code": "json_invalid"}
    ]
