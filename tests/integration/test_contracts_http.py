"""The contracts over HTTP: each event's ce_dataschema is a URL the API serves, and the served schemas resolve."""

from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from catalog_api.settings import ApiSettings
from catalog_kit.outbox import outbox
from catalog_schemas import schema_names
from catalog_schemas.asyncapi import document


def test_an_events_dataschema_is_served_and_validates_its_data(
    api: TestClient, api_settings: ApiSettings, sessions: sessionmaker[Session], unique: str
) -> None:
    created = api.post("/products", json={"sku": f"DS-{unique}", "name": "Tee", "price": "5.00", "currency": "EUR"})
    assert created.status_code == 201
    with sessions() as s:
        [headers] = s.execute(select(outbox.c.headers).where(outbox.c.aggregate_id == created.json()["id"])).scalars()
    url = headers["ce_dataschema"]
    assert url == f"{api_settings.public_base_url}/schemas/product.created.v1.json"

    def served(uri: str) -> Resource:
        """What a consumer's validator does: fetch each referenced schema from the API (here: in-process)."""
        assert uri.startswith(api_settings.public_base_url)
        response = api.get(urlsplit(uri).path)
        assert response.status_code == 200, uri
        return Resource.from_contents(response.json())

    schema = served(url).contents
    assert schema["$id"] == url  # a served schema names the URL it is served at
    validator = Draft202012Validator(schema, registry=Registry(retrieve=served))  # type: ignore[call-arg]
    validator.validate(created.json())  # follows product.created → product-snapshot, both from the API


def test_every_schema_and_the_asyncapi_document_are_served(api: TestClient, api_settings: ApiSettings) -> None:
    for name in schema_names():
        response = api.get(f"/schemas/{name}")
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/schema+json"
        assert response.json()["$id"] == f"{api_settings.public_base_url}/schemas/{name}"
    response = api.get("/asyncapi.json")
    assert response.status_code == 200
    assert response.json() == document(api_settings.public_base_url)


@pytest.mark.parametrize("name", ["nope.v1.json", "..%2Fpyproject.toml", "product.created.v1"])
def test_unknown_schemas_are_problems(api: TestClient, name: str) -> None:
    response = api.get(f"/schemas/{name}")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
