"""Who may do what, seen from an attacker's side: every operation of both APIs (taken from their OpenAPI documents)
against every kind of caller, on a database of their own.

The expected outcome comes from the access table the apps themselves enforce (`ACCESS`): a public operation
answers anyone; a protected one answers 401 without a valid key, 403 without the scope, and — for import jobs — 404
to a key that did not submit the job. Whatever is refused changes nothing. A new route without a decision fails
here (and stops the app: `check_decided`).
"""

import logging
import os
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from catalog_api.adapters.api_keys import ApiKeys, api_keys
from catalog_api.domain.keys import DEFAULT_SCOPES, Principal, Scope, digest
from catalog_api.entrypoints.access import ACCESS, IMPORT_EVENTS
from catalog_api.entrypoints.http import create_app
from catalog_api.settings import ApiSettings
from catalog_core.adapters.imports import import_jobs
from catalog_core.adapters.tables import products
from catalog_core.adapters.webhooks import webhook_deliveries, webhook_subscriptions
from catalog_http.access import PUBLIC
from catalog_indexer.adapters.read_model import SearchDocuments
from catalog_indexer.entrypoints.access import ACCESS as SEARCH_ACCESS
from catalog_indexer.entrypoints.bootstrap import index_follower
from catalog_indexer.entrypoints.search_api import create_app as create_search_app
from catalog_indexer.settings import IndexerSettings
from catalog_kit.db import make_engine, make_session_factory
from catalog_kit.outbox import outbox
from tests.conftest import ADMIN_KEY, OTHER_WRITE_KEY, READ_KEY, WRITE_KEY

pytestmark = pytest.mark.integration

PROBLEM = "application/problem+json"
FEED = ("feed.csv", b"sku,name,price,currency\nACC-1,Tee,1.00,EUR\n", "text/csv")


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@dataclass(frozen=True)
class Caller:
    name: str
    headers: dict[str, str]
    scopes: frozenset[Scope] | None  # None: no valid key at all
    owns_the_job: bool = False  # the fixture's job was submitted with WRITE_KEY

    def may(self, need: str) -> bool:
        if need == PUBLIC:
            return True
        return self.scopes is not None and Principal(self.name, self.name, self.scopes).allows(Scope(need))


@dataclass
class Setup:
    api: TestClient
    sessions: sessionmaker[Session]
    callers: list[Caller]
    stored_key: str
    stored_key_id: uuid.UUID
    revoked_key: str
    engine: Engine
    database_url: str


@pytest.fixture
def setup(fresh_database: str, api_settings: ApiSettings, tmp_path: Path) -> Iterator[Setup]:
    engine = make_engine(fresh_database, pool_size=4)
    sessions = make_session_factory(engine)
    with sessions() as s, s.begin():
        stored, stored_key = ApiKeys(s).create("supplier-b", DEFAULT_SCOPES)
        revoked, revoked_key = ApiKeys(s).create("supplier-gone", DEFAULT_SCOPES)
        ApiKeys(s).revoke(revoked.id)
    settings = api_settings.model_copy(
        update={"database_url": SecretStr(fresh_database), "object_store_dir": tmp_path / "objects"}
    )
    never_stored = f"catalog_{uuid.uuid4().hex}_{'x' * 43}"
    callers = [
        Caller("no key", {}, None),
        Caller("unknown key", bearer("not-a-key-of-ours"), None),
        Caller("unknown stored-form key", bearer(never_stored), None),
        Caller("revoked key", bearer(revoked_key), None),
        Caller("reader", bearer(READ_KEY), frozenset({Scope.READ})),
        Caller("writer", bearer(WRITE_KEY), DEFAULT_SCOPES, owns_the_job=True),
        Caller("other writer", bearer(OTHER_WRITE_KEY), DEFAULT_SCOPES),
        Caller("stored writer", bearer(stored_key), DEFAULT_SCOPES),
        Caller("admin", bearer(ADMIN_KEY), frozenset({Scope.ADMIN})),
    ]
    with TestClient(create_app(settings, sessions)) as client:
        yield Setup(client, sessions, callers, stored_key, stored.id, revoked_key, engine, fresh_database)
    engine.dispose()


def fixtures(setup: Setup) -> dict[str, str]:
    """A product and an import job (submitted with WRITE_KEY) of their own for one request: it may delete them."""
    sku = f"ACC-{uuid.uuid4().hex[:10]}"
    product = setup.api.post(
        "/products", json={"sku": sku, "name": "Tee", "price": "1.00", "currency": "EUR"}, headers=bearer(WRITE_KEY)
    )
    job = setup.api.post("/imports", files={"file": FEED}, data={"format": "csv"}, headers=bearer(WRITE_KEY))
    hook = setup.api.post(
        "/admin/webhooks",
        json={"url": "https://hooks.example.com/catalog", "event_types": ["import.completed"]},
        headers=bearer(ADMIN_KEY),
    )
    assert (product.status_code, job.status_code, hook.status_code) == (201, 202, 201)
    delivery = setup.api.post(f"/admin/webhooks/{hook.json()['id']}/test", headers=bearer(ADMIN_KEY))
    assert delivery.status_code == 202
    return {
        "product_id": product.json()["id"],
        "job_id": job.json()["id"],
        "subscription_id": hook.json()["id"],
        "delivery_id": delivery.json()["id"],
        "key": "media/00/none.webp",
        "name": "product.created.v1.json",
        "processor": "indexer",
        "partition": "0",
        "offset": "0",
        "row_number": "1",
    }


def state(setup: Setup, ids: dict[str, str]) -> tuple[Any, ...]:
    """What a refused request must not change: events, the product, the job, keys."""
    with setup.sessions() as s:
        return (
            s.execute(select(func.count()).select_from(outbox)).scalar_one(),
            s.execute(select(products.c.version).where(products.c.id == uuid.UUID(ids["product_id"]))).all(),
            s.execute(
                select(import_jobs.c.state, import_jobs.c.cancel_requested, import_jobs.c.retries).where(
                    import_jobs.c.id == uuid.UUID(ids["job_id"])
                )
            ).all(),
            s.execute(select(func.count()).select_from(import_jobs)).scalar_one(),
            s.execute(select(func.count()).select_from(api_keys)).scalar_one(),
            sorted(tuple(r) for r in s.execute(select(webhook_subscriptions.c.url, webhook_subscriptions.c.secret))),
            sorted(tuple(r) for r in s.execute(select(webhook_deliveries.c.id, webhook_deliveries.c.state))),
        )


def expectation(need: str, caller: Caller, path: str) -> int | None:
    """The status a refusal must have, or None when the request must get past access control."""
    if caller.may(need):
        if "{job_id}" in path and not caller.owns_the_job and Scope.ADMIN not in (caller.scopes or ()):
            return 404  # another key's job does not exist for this caller
        return None
    return 401 if caller.scopes is None else 403


def test_every_operation_against_every_caller(setup: Setup) -> None:
    document = setup.api.get("/openapi.json").json()
    operations = {(method.upper(), path) for path, ops in document["paths"].items() for method in ops}
    # The console's pages and the live job stream are decided too, but left out of the document (and tried in
    # tests/integration/test_console.py and test_import_streams.py).
    assert operations == set(ACCESS.needs) - ACCESS.undocumented, "every operation needs exactly one access decision"
    failures: list[str] = []
    for method, path in sorted(operations):
        need = ACCESS.needs[(method, path)]
        for caller in setup.callers:
            ids = fixtures(setup)
            before = state(setup, ids)
            answer = setup.api.request(method, path.format(**ids), headers=caller.headers)
            refused_with = expectation(need, caller, path)
            label = f"{method} {path} as {caller.name} (needs {need}): {answer.status_code} {answer.text[:200]}"
            if refused_with is None:
                if answer.status_code in (401, 403) or answer.status_code >= 500:
                    failures.append(label)
                elif need != PUBLIC and answer.status_code == 404:
                    failures.append(label)  # the fixtures exist: an allowed caller must find them
                continue
            if answer.status_code != refused_with or answer.headers["content-type"] != PROBLEM:
                failures.append(f"{label}; expected {refused_with}")
            elif refused_with in (401, 403) and "www-authenticate" not in answer.headers:
                failures.append(f"{label}; no WWW-Authenticate")
            elif state(setup, ids) != before:
                failures.append(f"{label}; the refused request changed something")
    assert not failures, "\n".join(failures)


def test_the_search_api_is_public_for_every_caller(setup: Setup, tmp_path: Path) -> None:
    settings = IndexerSettings(database_url=setup.database_url, search_index_dir=tmp_path)
    index_follower(settings, SearchDocuments(setup.engine)).catch_up()  # what the indexer keeps
    app = create_search_app(settings, setup.engine)
    with TestClient(app) as search:
        document = search.get("/openapi.json").json()
        operations = {(method.upper(), path) for path, ops in document["paths"].items() for method in ops}
        assert operations == set(SEARCH_ACCESS.needs)
        for method, path in operations:
            for caller in setup.callers:
                answer = search.request(method, path, headers=caller.headers)
                assert answer.status_code == 200, (method, path, caller.name, answer.text)


def test_a_writer_sees_and_acts_on_only_its_own_jobs_and_ids_reveal_nothing(setup: Setup) -> None:
    api = setup.api
    mine = api.post("/imports", files={"file": FEED}, data={"format": "csv"}, headers=bearer(WRITE_KEY)).json()
    theirs = api.post("/imports", files={"file": FEED}, data={"format": "csv"}, headers=bearer(OTHER_WRITE_KEY)).json()

    listed = {j["id"] for j in api.get("/imports", headers=bearer(WRITE_KEY)).json()["items"]}
    assert mine["id"] in listed
    assert theirs["id"] not in listed
    for state_filter in ("PENDING", None):
        params = {"state": state_filter} if state_filter else {}
        others = api.get("/imports", params=params, headers=bearer(OTHER_WRITE_KEY)).json()["items"]
        assert mine["id"] not in {j["id"] for j in others}
    assert api.get("/imports", headers=bearer(READ_KEY)).json()["items"] == []  # a reader has submitted nothing

    unknown = str(uuid.uuid4())
    for method, suffix in [("GET", ""), ("GET", "/rows"), ("POST", "/cancel"), ("POST", "/retry-failed")]:
        foreign = api.request(method, f"/imports/{mine['id']}{suffix}", headers=bearer(OTHER_WRITE_KEY))
        missing = api.request(method, f"/imports/{unknown}{suffix}", headers=bearer(OTHER_WRITE_KEY))
        assert foreign.status_code == missing.status_code == 404, (method, suffix)
        assert foreign.json() | {"detail": ""} == missing.json() | {"detail": ""}  # the same answer, id aside
    assert api.get(f"/imports/{mine['id']}", headers=bearer(WRITE_KEY)).json()["cancel_requested"] is False

    cancelled = api.post(f"/imports/{theirs['id']}/cancel", headers=bearer(ADMIN_KEY))
    assert (cancelled.status_code, cancelled.json()["state"]) == (202, "CANCELLED")


def test_only_admins_see_who_submitted_a_job_and_where_it_ran(setup: Setup) -> None:
    api = setup.api
    job = api.post("/imports", files={"file": FEED}, data={"format": "csv"}, headers=bearer(setup.stored_key)).json()
    with setup.sessions() as s, s.begin():
        s.execute(
            import_jobs.update()
            .where(import_jobs.c.id == uuid.UUID(job["id"]))
            .values(claimed_by="importer-host-4711", last_error="OperationalError: connection to db.internal")
        )
    operator_fields = {"submitted_by", "worker", "last_error"}
    own = api.get(f"/imports/{job['id']}", headers=bearer(setup.stored_key)).json()
    assert operator_fields.isdisjoint(own)
    assert "importer-host-4711" not in str(own)
    listed = api.get("/imports", headers=bearer(setup.stored_key)).json()["items"]
    assert [j["id"] for j in listed] == [job["id"]]
    assert operator_fields.isdisjoint(listed[0])

    seen = api.get(f"/imports/{job['id']}", headers=bearer(ADMIN_KEY)).json()
    assert seen["submitted_by"] == f"key:{setup.stored_key_id}"  # which key submitted it
    assert seen["worker"] == "importer-host-4711"
    assert seen["last_error"].startswith("OperationalError")
    everyone = {j["id"] for j in api.get("/imports", headers=bearer(ADMIN_KEY)).json()["items"]}
    assert job["id"] in everyone


def test_stored_keys_are_kept_as_digests_and_refused_once_revoked(setup: Setup) -> None:
    with setup.sessions() as s:
        rows = s.execute(select(api_keys)).all()
    stored = {row.id: row for row in rows}
    assert bytes(stored[setup.stored_key_id].key_sha256) == digest(setup.stored_key.encode())
    assert all(setup.stored_key not in str(tuple(row)) for row in rows)

    assert setup.api.get("/imports", headers=bearer(setup.stored_key)).status_code == 200
    assert setup.api.get("/imports", headers=bearer(setup.revoked_key)).status_code == 401
    wrong_secret = setup.stored_key[:-4] + ("AAAA" if not setup.stored_key.endswith("AAAA") else "BBBB")
    assert setup.api.get("/imports", headers=bearer(wrong_secret)).status_code == 401
    with setup.sessions() as s, s.begin():
        ApiKeys(s).revoke(setup.stored_key_id)
    assert setup.api.get("/imports", headers=bearer(setup.stored_key)).status_code == 401  # at once


def test_nul_characters_are_422_for_callers_with_the_scope(setup: Setup) -> None:
    for path in ("/imports", "/products"):
        answer = setup.api.get(path, params={"cursor": "a\x00b"}, headers=bearer(READ_KEY))
        assert answer.status_code == 422, path
        assert [e["field"] for e in answer.json()["errors"]] == ["cursor"]


def test_no_log_record_holds_a_key(setup: Setup, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    keys = [WRITE_KEY, READ_KEY, ADMIN_KEY, setup.stored_key, setup.revoked_key]
    ids = fixtures(setup)
    for key in keys:
        for method, path in sorted(set(ACCESS.needs) - {IMPORT_EVENTS}):  # a pending job's stream does not end
            setup.api.request(method, path.format(**ids), headers=bearer(key))
    logged = "\n".join(f"{record.getMessage()} {record.__dict__}" for record in caplog.records)
    assert caplog.records, "the requests above log"
    for key in keys:
        assert key not in logged


def run_command(command: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, env={**os.environ, **env}, capture_output=True, text=True, timeout=120, check=False)


def test_catalog_keys_prints_a_new_key_once_and_never_again(setup: Setup) -> None:
    env = {"DATABASE_URL": setup.database_url}
    cli = str(Path(sys.executable).parent / "catalog-keys")
    created = run_command([cli, "create", "--name", "supplier-c", "--scopes", "catalog:write+catalog:read"], env)
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip()
    assert key.startswith("catalog_")
    assert key not in created.stderr
    [key_id] = re.findall(r"created key (\S+) for supplier-c", created.stderr)
    submitted = setup.api.post("/imports", files={"file": FEED}, data={"format": "csv"}, headers=bearer(key))
    assert submitted.status_code == 202

    listed = run_command([cli, "list"], env)
    assert listed.returncode == 0, listed.stderr
    assert "supplier-c" in listed.stdout
    assert "catalog:read+catalog:write" in listed.stdout
    assert key not in listed.stdout + listed.stderr
    assert digest(key.encode()).hex() not in listed.stdout

    assert run_command([cli, "create", "--name", "x", "--scopes", "catalog:everything"], env).returncode == 2
    revoked = run_command([cli, "revoke", key_id], env)
    assert revoked.returncode == 0, revoked.stderr
    assert key not in revoked.stdout + revoked.stderr
    assert setup.api.get("/imports", headers=bearer(key)).status_code == 401
    assert "supplier-c" not in run_command([cli, "list"], env).stdout
    assert "revoked" in run_command([cli, "list", "--all"], env).stdout
    assert run_command([cli, "revoke", str(uuid.uuid4())], env).returncode == 1
