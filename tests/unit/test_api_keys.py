"""Keys and scopes as an attacker would try them, without a database: `API_KEYS` parsing, bearer values that are
no key at all, the access table against the served routes, and the development key `make run` hands out."""

import hashlib
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from catalog_api.domain.keys import (
    DEFAULT_SCOPES,
    InvalidKeys,
    Principal,
    Scope,
    new_key,
    parse_api_keys,
    parse_scopes,
    stored_key_id,
)
from catalog_api.entrypoints.access import ACCESS
from catalog_api.entrypoints.auth import bearer_value
from catalog_api.entrypoints.http import create_app
from catalog_api.settings import ApiSettings
from catalog_http.access import PUBLIC, UndecidedAccess, check_decided
from catalog_indexer.entrypoints.access import ACCESS as SEARCH_ACCESS
from catalog_indexer.entrypoints.search_api import create_app as create_search_app
from catalog_indexer.settings import IndexerSettings
from catalog_stack.cli import banner, dev_api_keys
from catalog_stack.infra import Endpoints, StackConfig

NOWHERE = "postgresql+psycopg://nobody@127.0.0.1:9/none"
KEY = "the-only-key"
PROBLEM = "application/problem+json"


@pytest.fixture
def app(tmp_path: Path) -> FastAPI:
    return create_app(ApiSettings(database_url=NOWHERE, api_keys=f"{KEY}=admin", object_store_dir=tmp_path))


@pytest.fixture
def api(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as client:
        yield client


def test_a_bare_api_keys_entry_reads_and_writes_and_scopes_are_named_after_an_equals_sign() -> None:
    bare, reader, admin = parse_api_keys("k1, k2=catalog:read ,k3=admin+catalog:read")
    assert bare.principal.scopes == DEFAULT_SCOPES == {Scope.READ, Scope.WRITE}
    assert reader.principal.scopes == {Scope.READ}
    assert admin.principal.scopes == {Scope.ADMIN, Scope.READ}
    # The id import jobs record is the one they recorded before keys had scopes: a dev database keeps its owners.
    assert bare.principal.id == hashlib.sha256(b"k1").hexdigest()[:16]
    assert parse_api_keys("") == ()


@pytest.mark.parametrize(
    ("api_keys", "message"),
    [
        ("good,s3cret-value=catalog:wirte", "API_KEYS entry 2: unknown scope(s) 'catalog:wirte'"),
        ("s3cret-value=", "API_KEYS entry 1: no scope"),
        ("s3cret value", "API_KEYS entry 1: a key is"),
        ("s3cr\u00e9t", "API_KEYS entry 1: a key is"),
    ],
)
def test_unreadable_api_keys_stop_the_start_and_the_error_names_the_entry_not_the_key(
    api_keys: str, message: str, tmp_path: Path
) -> None:
    with pytest.raises(InvalidKeys) as refused:
        create_app(ApiSettings(database_url=NOWHERE, api_keys=api_keys, object_store_dir=tmp_path))
    assert str(refused.value).startswith(message)
    assert "s3cr" not in str(refused.value)


def test_api_keys_do_not_show_in_reprs_or_dumps(tmp_path: Path) -> None:
    settings = ApiSettings(database_url=NOWHERE, api_keys="key-s3cret=admin", object_store_dir=tmp_path)
    assert "s3cret" not in f"{settings!r} {settings} {settings.model_dump()} {settings.model_dump_json()}"


def test_admin_has_every_scope_and_sees_every_job_others_only_their_own() -> None:
    writer = Principal("w", "writer", DEFAULT_SCOPES)
    admin = Principal("a", "admin", frozenset({Scope.ADMIN}))
    assert writer.allows(Scope.WRITE)
    assert not writer.allows(Scope.ADMIN)
    assert all(admin.allows(scope) for scope in Scope)
    assert (writer.owner_filter, admin.owner_filter) == ("w", None)
    assert parse_scopes("catalog:read,catalog:write") == DEFAULT_SCOPES


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "Bearer",
        "Bearer ",
        "Basic dXNlcjpwYXNz",
        "Token the-only-key",
        "Bearer two words",
        "Bearer cl\u00c3\u00a9",  # UTF-8 bytes of "clé" as the server decodes headers (latin-1)
        "Bearer \u00ff\u00fe",
        "Bearer " + "k" * 10_000,
    ],
)
def test_a_bearer_value_that_cannot_be_a_key_is_none(header: str | None) -> None:
    assert bearer_value(header) is None


def test_stored_keys_name_their_row_and_only_that_form_does() -> None:
    key = new_key(key_id := uuid.uuid4())
    assert bearer_value(f"Bearer {key}") == key
    assert stored_key_id(key) == key_id
    assert stored_key_id(KEY) is None
    assert stored_key_id(f"catalog_{key_id.hex}_") is None


def protected_operations() -> list[tuple[str, str]]:
    return sorted(operation for operation, need in ACCESS.needs.items() if need != PUBLIC)


def concrete(path: str) -> str:
    return path.replace("{product_id}", "0190a0a0-0000-7000-8000-000000000000").replace(
        "{job_id}", "0190a0a0-0000-7000-8000-000000000001"
    )


@pytest.mark.parametrize(
    "authorization",
    [
        b"Bearer cl\xc3\xa9",  # non-ASCII (valid UTF-8)
        b"Bearer \xff\xfe\x80",  # not even UTF-8
        b"Bearer " + b"k" * 8_000,  # huge
        b"Bearer ",  # empty
        b"Basic dGhlLW9ubHkta2V5",  # another scheme (carrying the right key)
        b"Bearer not-the-key",
        b"Bearer the-only-key\x7f",
    ],
    ids=["non-ascii", "not-utf8", "huge", "empty", "basic", "unknown", "control"],
)
def test_any_bad_bearer_on_any_protected_operation_is_a_401_problem(api: TestClient, authorization: bytes) -> None:
    for method, path in protected_operations():
        answer = api.request(method, concrete(path), headers={"Authorization": authorization})
        assert answer.status_code == 401, (method, path, answer.text)
        assert answer.headers["content-type"] == PROBLEM
        assert answer.headers["www-authenticate"] == 'Bearer error="invalid_token"'
        presented = authorization.partition(b" ")[2].decode("latin-1")
        assert not presented or presented not in answer.text


def test_no_key_is_a_bare_challenge(api: TestClient) -> None:
    answer = api.get("/imports")
    assert answer.status_code == 401
    assert answer.headers["www-authenticate"] == "Bearer"


def test_the_access_table_covers_exactly_the_documented_operations_of_both_apps(app: FastAPI) -> None:
    documented = {(method.upper(), path) for path, ops in app.openapi()["paths"].items() for method in ops}
    assert documented == set(ACCESS.needs) - ACCESS.undocumented
    search = create_search_app(IndexerSettings(database_url=NOWHERE))
    documented = {(method.upper(), path) for path, ops in search.openapi()["paths"].items() for method in ops}
    assert documented == set(SEARCH_ACCESS.needs)
    assert set(SEARCH_ACCESS.needs.values()) == {PUBLIC}  # search is public: nothing there needs a key


def test_a_route_without_a_decision_stops_the_app(app: FastAPI) -> None:
    @app.post("/products/{product_id}/publish")
    def publish(product_id: str) -> dict[str, Any]:
        return {}

    with pytest.raises(UndecidedAccess, match=re.escape("no decision for POST /products/{product_id}/publish")):
        check_decided(app, ACCESS)


def test_the_openapi_document_names_each_operations_scope(app: FastAPI) -> None:
    document = app.openapi()
    scheme = document["components"]["securitySchemes"][ACCESS.scheme]
    assert (scheme["type"], scheme["scheme"]) == ("http", "bearer")
    for (method, path), need in ACCESS.needs.items():
        if (method, path) in ACCESS.undocumented:
            continue
        operation = document["paths"][path][method.lower()]
        if need == PUBLIC:
            assert operation["security"] == [], (method, path)
        else:
            assert operation["security"] == [{ACCESS.scheme: [need]}], (method, path)
            assert {"401", "403"} <= set(operation["responses"]), (method, path)
    imports = document["paths"]["/imports/{job_id}"]["get"]
    assert "404" in imports["responses"]  # another key's job is not found, not forbidden


def test_make_run_gives_its_key_admin_and_prints_neither_the_key_nor_the_password(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("API_KEYS", raising=False)
    config = StackConfig(tmp_path)
    api_keys, where, shell = dev_api_keys(config)
    key = (tmp_path / "api-key").read_text().strip()
    [entry] = parse_api_keys(api_keys)
    assert entry.principal.scopes == {Scope.ADMIN}  # the demo can do everything
    assert dev_api_keys(config)[0] == api_keys  # generated once, kept
    shown = banner(config, Endpoints("postgresql+psycopg://catalog:pg-s3cret@db/catalog", "k:9092"), where, shell)
    assert key not in shown
    assert "pg-s3cret" not in shown
    assert "postgresql+psycopg://catalog:***@db/catalog" in shown
    assert f"KEY=$(cat {tmp_path / 'api-key'})" in shown
