"""The HTTP apps' dependencies are a seam: `app.dependency_overrides` replaces any provider of `deps`.

No database here: the apps point at an address where none listens, and every request below is answered before a
session would connect (authentication, validation) or needs no database at all (media from the object store).
"""

import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from catalog_api.domain.keys import Principal, Scope
from catalog_api.entrypoints import deps
from catalog_api.entrypoints.http import create_app
from catalog_api.settings import ApiSettings
from catalog_indexer.entrypoints import deps as search_deps
from catalog_indexer.entrypoints.search_api import create_app as create_search_app
from catalog_indexer.settings import IndexerSettings
from catalog_kit.object_store import LocalDirectoryStore

NOWHERE = "postgresql+psycopg://nobody@127.0.0.1:9/none"


@pytest.fixture
def settings(tmp_path: Path) -> ApiSettings:
    return ApiSettings(database_url=NOWHERE, api_keys="the-only-key", object_store_dir=tmp_path / "store")


@pytest.fixture
def app(settings: ApiSettings) -> FastAPI:
    return create_app(settings)


@pytest.fixture
def api(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as client:
        yield client


def test_an_overridden_caller_lets_a_write_through_to_validation(app: FastAPI, api: TestClient) -> None:
    invalid = {"sku": "", "name": "Tee", "price": "1.00", "currency": "EUR"}
    assert api.post("/products", json=invalid).status_code == 401

    app.dependency_overrides[deps.authorize] = lambda: Principal("a-tester", "tester", frozenset({Scope.WRITE}))
    answer = api.post("/products", json=invalid)

    assert answer.status_code == 422
    assert [e["field"] for e in answer.json()["errors"]] == ["sku"]


def test_overridden_settings_change_the_page_size_bound(app: FastAPI, api: TestClient, settings: ApiSettings) -> None:
    default = api.get("/products", params={"limit": 201})
    assert default.status_code == 422
    assert default.json()["errors"] == [
        {"field": "limit", "message": "Input should be less than or equal to 200", "code": "less_than_equal"}
    ]

    smaller = settings.model_copy(update={"page_size_max": 10})
    app.dependency_overrides[deps.get_settings] = lambda: smaller
    for path in ("/products", "/imports"):
        answer = api.get(path, params={"limit": 11}, headers={"Authorization": "Bearer the-only-key"})
        assert answer.status_code == 422, path
        assert answer.json()["errors"] == [
            {"field": "limit", "message": "Input should be less than or equal to 10", "code": "less_than_equal"}
        ]


def test_an_overridden_object_store_is_the_one_media_is_served_from(
    app: FastAPI, api: TestClient, tmp_path: Path
) -> None:
    other = LocalDirectoryStore(tmp_path / "other")
    other.put("media/ab/cd.webp", io.BytesIO(b"RIFF....WEBP"))
    assert api.get("/media/media/ab/cd.webp").status_code == 404

    app.dependency_overrides[deps.get_object_store] = lambda: other
    answer = api.get("/media/media/ab/cd.webp")

    assert answer.status_code == 200
    assert answer.content == b"RIFF....WEBP"
    assert answer.headers["content-type"] == "image/webp"


def test_overridden_settings_change_the_search_page_size_bound() -> None:
    settings = IndexerSettings(database_url=NOWHERE)
    app = create_search_app(settings)
    app.dependency_overrides[search_deps.get_settings] = lambda: settings.model_copy(update={"search_page_size_max": 5})
    with TestClient(app) as client:
        answer = client.get("/search", params={"q": "shirt", "limit": 6})

    assert answer.status_code == 422
    assert answer.json()["errors"] == [
        {"field": "limit", "message": "Input should be less than or equal to 5", "code": "less_than_equal"}
    ]
