"""Property-based runs against both APIs' live OpenAPI documents, in-process over ASGI and a database of their own.

Schemathesis generates requests from each operation's parameters and bodies, valid ones and invalid ones, and
checks every answer: never a server error, and always a documented status code, content type and body schema.
Requests carry a key with catalog:read and catalog:write, so they get past authentication and reach validation and
the database (and the import job they ask about is their own); `test_access.py` covers who gets 401, 403 and 404.
"""

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from pydantic import SecretStr
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy import Engine

from catalog_api.entrypoints.http import create_app as create_product_api
from catalog_api.settings import ApiSettings
from catalog_core.domain.model import Product
from catalog_core.domain.products import ProductDraft
from catalog_indexer.adapters.migrations import upgrade as upgrade_read_model
from catalog_indexer.adapters.read_model import SearchDocuments
from catalog_indexer.domain.document import CorePart
from catalog_indexer.entrypoints.bootstrap import index_follower
from catalog_indexer.entrypoints.search_api import create_app as create_search_api
from catalog_indexer.settings import IndexerSettings
from catalog_kit.db import make_engine, make_session_factory
from tests.conftest import WRITE_KEY

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
AUTH = {"Authorization": f"Bearer {WRITE_KEY}"}
# Bounded: a handful of generated requests per operation and phase, and the test as a whole under a time limit
# (a hang fails it rather than the session). No per-request deadline: a slow request is not a wrong answer.
BOUNDED = settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck), database=None)


@pytest.fixture
def own_engine(fresh_database: str) -> Iterator[Engine]:
    """A migrated database of its own, so generated writes touch no other test's data."""
    upgrade_read_model(fresh_database)
    engine = make_engine(fresh_database, pool_size=2)
    yield engine
    engine.dispose()


@pytest.fixture
def product_api(own_engine: Engine, fresh_database: str, api_settings: ApiSettings) -> tuple[Any, dict[str, str]]:
    """The API's schema, and ids of a product and an import job that exist, for a second pass that finds them."""
    app_settings = api_settings.model_copy(update={"database_url": SecretStr(fresh_database)})
    app = create_product_api(app_settings, make_session_factory(own_engine))
    with TestClient(app, headers=AUTH) as client:
        product = client.post("/products", json={"sku": "SEED-1", "name": "Seed", "price": "1.00", "currency": "EUR"})
        feed = {"file": ("feed.csv", b"sku,name,price,currency\nSEED-2,Seed,2.00,EUR\n", "text/csv")}
        job = client.post("/imports", files=feed)
    assert product.status_code == 201
    assert job.status_code == 202
    existing = {"product_id": product.json()["id"], "job_id": job.json()["id"]}
    return schemathesis.openapi.from_asgi("/openapi.json", app), existing


@pytest.fixture
def search_api(own_engine: Engine, tmp_path: Path) -> Any:
    documents = SearchDocuments(own_engine)
    for n, status in enumerate(["active", "active", "draft"]):
        draft = ProductDraft.model_validate(
            {"sku": f"SKU-{n}", "name": f"Linen shirt {n}", "brand": "Acme", "price": f"{n}9.90", "currency": "EUR"}
        )
        documents.apply(
            CorePart.from_snapshot({**Product.create(draft, datetime.now(UTC)).snapshot(), "status": status})
        )
    settings = IndexerSettings(database_url=str(own_engine.url), search_index_dir=tmp_path)
    index_follower(settings, documents).catch_up()  # what the indexer keeps
    app = create_search_api(settings, own_engine)
    return schemathesis.openapi.from_asgi("/openapi.json", app)


def run(schema: Any, headers: dict[str, str] | None = None, existing: dict[str, str] | None = None) -> list[str]:
    """Every operation with valid and invalid requests, and once more with valid ones about `existing` resources
    (random ids only ever find nothing); what failed, one line per failure."""
    failures: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()  # a malformed operation raises here: the document itself is broken
        fixed = {name: value for name, value in (existing or {}).items() if f"{{{name}}}" in operation.path}
        passes: list[tuple[GenerationMode, dict[str, str]]] = [
            (GenerationMode.POSITIVE, {}),
            (GenerationMode.NEGATIVE, {}),
        ]
        if fixed:
            passes.append((GenerationMode.POSITIVE, fixed))
        for mode, path_parameters in passes:

            @BOUNDED
            @given(case=operation.as_strategy(generation_mode=mode, path_parameters=path_parameters))
            def exchange(case: schemathesis.Case[Any]) -> None:
                case.call_and_validate(headers=headers, checks=CHECKS)

            try:
                exchange()
            except Unsatisfiable:
                # Nothing to get wrong: an operation without parameters or body has no invalid requests.
                assert mode is GenerationMode.NEGATIVE, operation.label
            except (Exception, BaseExceptionGroup) as exc:  # the shrunk failure: collect, report them all at the end
                failures.append(f"{operation.label} [{mode.value}{', existing' if path_parameters else ''}]: {exc}")
    return failures


@pytest.mark.timeout(600)
def test_product_api_conforms_to_its_openapi(product_api: tuple[Any, dict[str, str]]) -> None:
    schema, existing = product_api
    failures = run(schema, headers=AUTH, existing=existing)
    assert not failures, "\n\n".join(failures)


@pytest.mark.timeout(300)
def test_search_api_conforms_to_its_openapi(search_api: Any) -> None:
    failures = run(search_api)
    assert not failures, "\n\n".join(failures)
