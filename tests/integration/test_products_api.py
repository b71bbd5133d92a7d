"""The product API over the real PostgreSQL: every write stores its row and its outbox event together."""

import threading
import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import select, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from catalog_api.entrypoints.http import create_app
from catalog_api.settings import ApiSettings
from catalog_core.adapters.tables import products
from catalog_core.domain.products import ProductDraft
from catalog_core.service_layer.catalog import ProductCatalog
from catalog_kit.outbox import OutboxWriter, outbox
from catalog_schemas import validate_event

PROBLEM = "application/problem+json"


def body(unique: str, **changes: Any) -> dict[str, Any]:
    return {
        "sku": f"SKU-{unique}",
        "name": f"Linen tee {unique}",
        "brand": "Acme",
        "price": "19.90",
        "currency": "EUR",
        "stock": 4,
        **changes,
    }


def events(sessions: sessionmaker[Session], product_id: str) -> list[dict[str, Any]]:
    with sessions() as s:
        # Core events only: the enricher of the session's running system may add product.enriched meanwhile.
        query = select(outbox).where(outbox.c.aggregate_id == product_id, outbox.c.event_type != "product.enriched")
        rows = s.execute(query.order_by(outbox.c.id)).all()
    for row in rows:
        validate_event(row.event_type, row.payload)
    return [{"type": r.event_type, "topic": r.topic, "data": r.payload, "headers": r.headers} for r in rows]


def test_create_stores_product_and_event_in_one_go(
    api: TestClient, sessions: sessionmaker[Session], unique: str
) -> None:
    response = api.post(
        "/products",
        json=body(unique),
        headers={"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"},
    )
    assert response.status_code == 201
    created = response.json()
    assert response.headers["location"] == f"/products/{created['id']}"
    assert response.headers["etag"] == '"1"'
    assert created["version"] == 1
    assert created["price"] == "19.90"
    [event] = events(sessions, created["id"])
    assert event["type"] == "product.created"
    assert event["topic"] == "catalog.product.v1"
    assert event["data"] == created
    assert event["headers"]["ce_subject"] == created["id"]
    assert event["headers"]["traceparent"] == "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    assert api.get(f"/products/{created['id']}").json() == created


def test_validation_errors_name_every_field(api: TestClient, sessions: sessionmaker[Session], unique: str) -> None:
    response = api.post("/products", json=body(unique, price="1.999", currency="ABC", images=["ftp://x"], name=""))
    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM
    problem = response.json()
    assert problem["status"] == 422
    assert {e["field"] for e in problem["errors"]} == {"name", "currency", "images[0]"}
    response = api.post("/products", json=body(unique, price="1.999"))
    assert [e["field"] for e in response.json()["errors"]] == ["price"]
    with sessions() as s:
        assert s.execute(select(products).where(products.c.sku == f"SKU-{unique}")).first() is None


def test_malformed_json_is_a_problem(api: TestClient) -> None:
    response = api.post("/products", content=b"{not json", headers={"content-type": "application/json"})
    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM


def test_duplicate_skus_conflict_across_products_and_variants(api: TestClient, unique: str) -> None:
    variants = [{"sku": f"V-{unique}-S", "options": {"size": "S"}, "stock": 1}]
    assert api.post("/products", json=body(unique, variants=variants)).status_code == 201
    same_sku = api.post("/products", json=body(unique, name="Other"))
    assert same_sku.status_code == 409
    assert same_sku.json()["errors"][0]["field"] == "sku"
    taken_by_variant = api.post("/products", json=body(f"{unique}-2", sku=f"v-{unique}-s"))
    assert taken_by_variant.status_code == 409
    variant_clash = api.post(
        "/products", json=body(f"{unique}-3", variants=[{"sku": f"SKU-{unique}".lower(), "options": {"size": "M"}}])
    )
    assert variant_clash.status_code == 409
    assert variant_clash.json()["errors"][0]["field"] == "variants[0].sku"


def test_writes_need_the_key_reads_do_not(api: TestClient, unique: str) -> None:
    assert api.post("/products", json=body(unique), headers={"Authorization": ""}).status_code == 401
    wrong = api.post("/products", json=body(unique), headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    assert wrong.headers["www-authenticate"] == 'Bearer error="invalid_token"'  # RFC 6750: a key was refused
    assert api.get("/products", headers={"Authorization": ""}).status_code == 200


def test_oversized_bodies_get_413(api: TestClient, unique: str) -> None:
    huge = body(unique, description="x" * (70 * 1024))
    response = api.post("/products", json=huge)
    assert response.status_code == 413
    assert response.headers["content-type"] == PROBLEM

    def chunks() -> Any:
        for _ in range(70):
            yield b"x" * 1024

    streamed = api.post("/products", content=chunks(), headers={"content-type": "application/json"})
    assert streamed.status_code == 413


def test_unknown_ids_are_404(api: TestClient) -> None:
    missing = uuid.uuid4()
    assert api.get(f"/products/{missing}").status_code == 404
    assert api.patch(f"/products/{missing}", json={"name": "x"}, headers={"If-Match": '"1"'}).status_code == 404
    assert api.delete(f"/products/{missing}").status_code == 404
    assert api.get("/products/not-a-uuid").status_code == 422


def test_idempotency_key_replays_the_first_response(
    api: TestClient, sessions: sessionmaker[Session], unique: str
) -> None:
    headers = {"Idempotency-Key": f"key-{unique}"}
    first = api.post("/products", json=body(unique), headers=headers)
    again = api.post("/products", json=body(unique), headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["location"] == first.headers["location"]
    assert again.headers["idempotent-replay"] == "true"
    with sessions() as s:
        assert (
            s.execute(select(text("count(*)")).select_from(products).where(products.c.sku == f"SKU-{unique}")).scalar()
            == 1
        )
    assert len(events(sessions, first.json()["id"])) == 1
    other_body = api.post("/products", json=body(unique, name="Changed"), headers=headers)
    assert other_body.status_code == 422
    assert other_body.json()["errors"][0]["field"] == "Idempotency-Key"


def test_patch_needs_a_current_if_match(api: TestClient, sessions: sessionmaker[Session], unique: str) -> None:
    created = api.post("/products", json=body(unique)).json()
    url = f"/products/{created['id']}"
    assert api.patch(url, json={"name": "New"}).status_code == 428
    patched = api.patch(
        url,
        json={"name": "New name", "brand": None, "attributes": {"color": "red"}},
        headers={"If-Match": '"1"', "Content-Type": "application/merge-patch+json"},
    )
    assert patched.status_code == 200, patched.text
    assert patched.headers["etag"] == '"2"'
    assert patched.json()["name"] == "New name"
    assert patched.json()["brand"] is None
    stale = api.patch(url, json={"name": "Lost update"}, headers={"If-Match": '"1"'})
    assert stale.status_code == 412
    assert stale.headers["etag"] == '"2"'
    invalid = api.patch(url, json={"price": "-3", "version": 9}, headers={"If-Match": '"2"'})
    assert invalid.status_code == 422
    assert {e["field"] for e in invalid.json()["errors"]} == {"price", "version"}
    assert [e["type"] for e in events(sessions, created["id"])] == ["product.created", "product.updated"]
    assert events(sessions, created["id"])[1]["data"]["version"] == 2


def test_a_patch_that_changes_nothing_makes_no_version(
    api: TestClient, sessions: sessionmaker[Session], unique: str
) -> None:
    created = api.post("/products", json=body(unique)).json()
    same = api.patch(f"/products/{created['id']}", json={"name": created["name"]}, headers={"If-Match": '"1"'})
    assert same.status_code == 200
    assert same.json()["version"] == 1
    assert len(events(sessions, created["id"])) == 1


def test_two_patches_with_the_same_if_match_one_wins(api: TestClient, unique: str) -> None:
    created = api.post("/products", json=body(unique)).json()
    results: list[int] = []
    barrier = threading.Barrier(2)

    def patch(name: str) -> None:
        barrier.wait()
        response = api.patch(f"/products/{created['id']}", json={"name": name}, headers={"If-Match": '"1"'})
        results.append(response.status_code)

    threads = [threading.Thread(target=patch, args=(f"Name {i}",)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [200, 412]
    assert api.get(f"/products/{created['id']}").json()["version"] == 2


def test_variants_keep_their_ids_across_updates(api: TestClient, unique: str) -> None:
    variants = [
        {"sku": f"V-{unique}-S", "options": {"size": "S"}, "stock": 1},
        {"sku": f"V-{unique}-M", "options": {"size": "M"}, "stock": 2},
    ]
    created = api.post("/products", json=body(unique, variants=variants)).json()
    assert created["stock"] == 3
    ids = {v["sku"]: v["id"] for v in created["variants"]}
    new_variants = [variants[1], {"sku": f"V-{unique}-L", "options": {"size": "L"}, "stock": 5}]
    patched = api.patch(f"/products/{created['id']}", json={"variants": new_variants}, headers={"If-Match": '"1"'})
    assert patched.status_code == 200
    after = {v["sku"]: v["id"] for v in patched.json()["variants"]}
    assert after[f"V-{unique}-M"] == ids[f"V-{unique}-M"]
    assert patched.json()["stock"] == 7
    # The dropped variant's SKU is free again.
    reuse = api.post("/products", json=body(f"{unique}-b", sku=f"V-{unique}-S"))
    assert reuse.status_code == 201


def test_delete_announces_and_frees_the_sku(api: TestClient, sessions: sessionmaker[Session], unique: str) -> None:
    created = api.post("/products", json=body(unique)).json()
    url = f"/products/{created['id']}"
    assert api.delete(url, headers={"If-Match": '"7"'}).status_code == 412
    assert api.delete(url).status_code == 204
    assert api.get(url).status_code == 404
    deleted = events(sessions, created["id"])[-1]
    assert deleted["type"] == "product.deleted"
    assert deleted["data"]["version"] == 2
    assert api.post("/products", json=body(unique)).status_code == 201


def test_list_pages_with_a_cursor_and_filters(api: TestClient, unique: str) -> None:
    brand = f"Brand-{unique}"
    made = [api.post("/products", json=body(f"{unique}-{i}", brand=brand)).json()["id"] for i in range(5)]
    api.post("/products", json=body(f"{unique}-draft", brand=brand, status="draft"))
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"brand": brand, "status": "active", "limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = api.get("/products", params=params).json()
        seen += [p["id"] for p in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == made
    assert api.get("/products", params={"cursor": "garbage"}).status_code == 400
    assert api.get("/products", params={"limit": 0}).status_code == 422
    future = api.get("/products", params={"brand": brand, "updated_since": "2999-01-01T00:00:00Z"}).json()
    assert future["items"] == []


def test_a_failure_after_the_product_insert_leaves_neither_row(sessions: sessionmaker[Session], unique: str) -> None:
    class FailingOutbox(OutboxWriter):
        def add(self, *args: Any, **kwargs: Any) -> Any:
            raise RuntimeError("outbox unavailable")

    draft = ProductDraft.model_validate(body(unique))
    with pytest.raises(RuntimeError), sessions() as session, session.begin():
        ProductCatalog(session, FailingOutbox("/test")).create(draft)
    with sessions() as s:
        assert s.execute(select(products).where(products.c.sku == draft.sku)).first() is None
        assert s.execute(select(outbox).where(outbox.c.payload["sku"].astext == draft.sku)).first() is None


def test_health_and_readiness(api: TestClient) -> None:
    assert api.get("/healthz").json() == {"status": "ok"}
    assert api.get("/readyz").json() == {"status": "ready"}
    assert "/products" in api.get("/openapi.json").json()["paths"]


def test_a_database_outage_is_a_503_with_retry_after_not_a_500(api_settings: ApiSettings, unique: str) -> None:
    from tests.conftest import WRITE_KEY, free_port

    down = (
        make_url(api_settings.database_url.get_secret_value())
        .set(port=free_port())
        .render_as_string(hide_password=False)
    )
    settings = api_settings.model_copy(update={"database_url": SecretStr(down)})
    auth = {"Authorization": f"Bearer {WRITE_KEY}"}
    with TestClient(create_app(settings), headers=auth, raise_server_exceptions=False) as client:
        for response in (
            client.post("/products", json=body(unique)),
            client.get(f"/products/{uuid.uuid4()}"),
            client.get("/products"),
            client.get("/readyz"),
        ):
            assert response.status_code == 503, response.text
            assert response.headers["content-type"] == PROBLEM
        assert client.post("/products", json=body(unique)).headers["Retry-After"] == "2"
        assert client.get("/healthz").status_code == 200  # alive, just not ready
