"""`POST /products/{id}/images` and `GET /media/{key}` on the real PostgreSQL: streamed, checked by content,
stored content-addressed, appended to the product with its event; served read-only and immutable."""

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from catalog_api.entrypoints.http import create_app
from catalog_api.settings import ApiSettings
from catalog_kit.object_store import LocalDirectoryStore, sha256
from catalog_kit.outbox import outbox
from catalog_schemas import validate_event
from tests.conftest import WRITE_KEY
from tests.images import jpeg, png

BASE = "http://testserver/media"
LIMIT = 300_000


@pytest.fixture
def objects(tmp_path: Path) -> LocalDirectoryStore:
    return LocalDirectoryStore(tmp_path)


@pytest.fixture
def client(
    api_settings: ApiSettings, sessions: sessionmaker[Session], objects: LocalDirectoryStore
) -> Iterator[TestClient]:
    settings = api_settings.model_copy(
        update={"object_store_dir": objects.root, "max_image_bytes": LIMIT, "media_base_url": BASE}
    )
    with TestClient(create_app(settings, sessions), headers={"Authorization": f"Bearer {WRITE_KEY}"}) as client:
        yield client


@pytest.fixture
def product(client: TestClient, unique: str) -> dict[str, Any]:
    body = {"sku": f"UP-{unique}", "name": f"Upload {unique}", "price": "3.00", "currency": "EUR"}
    response = client.post("/products", json=body)
    assert response.status_code == 201
    created: dict[str, Any] = response.json()
    return created


def upload(client: TestClient, product_id: str, data: bytes, content_type: str = "image/jpeg", **kw: Any) -> Any:
    return client.post(f"/products/{product_id}/images", files={"file": ("photo", data, content_type)}, **kw)


def test_an_upload_is_stored_by_content_and_appended_with_its_event(
    client: TestClient, product: dict[str, Any], objects: LocalDirectoryStore, sessions: sessionmaker[Session]
) -> None:
    data = jpeg(400, 300) + b"\0" * 70_000  # larger than the API's general body limit (64 KiB here)
    response = upload(client, product["id"], data)
    assert response.status_code == 201, response.text
    digest = sha256(io.BytesIO(data))
    answer = response.json()
    assert answer["key"] == f"originals/{digest[:2]}/{digest}.jpg"
    assert answer["url"] == f"{BASE}/{answer['key']}" == response.headers["location"]
    assert answer["product"]["images"] == [answer["url"]]
    assert answer["product"]["version"] == 2
    assert response.headers["etag"] == '"2"'
    with objects.open(answer["key"]) as stream:
        assert stream.read() == data
    with sessions() as s:
        [event] = s.execute(
            select(outbox.c.payload).where(
                outbox.c.aggregate_id == product["id"], outbox.c.event_type == "product.updated"
            )
        ).all()
    validate_event("product.updated", event.payload)
    assert event.payload["images"] == [answer["url"]]

    again = upload(client, product["id"], data)  # the same image again: listed already, no new version
    assert again.status_code == 201
    assert again.json()["product"]["version"] == 2

    served = client.get(f"/media/{answer['key']}")
    assert served.status_code == 200
    assert served.content == data
    assert served.headers["content-type"] == "image/jpeg"
    assert "immutable" in served.headers["cache-control"]
    assert client.get(f"/media/{answer['key']}", headers={"If-None-Match": served.headers["etag"]}).status_code == 304
    # A running media worker may already be at it (it cannot fetch from this in-process API's base URL).
    [listed] = client.get(f"/products/{product['id']}/images").json()["images"]
    assert listed["url"] == answer["url"]
    assert listed["status"] in ("pending", "failed")


def test_an_image_over_the_limit_gets_413_and_stores_nothing(
    client: TestClient, product: dict[str, Any], objects: LocalDirectoryStore
) -> None:
    response = upload(client, product["id"], jpeg(50, 50) + b"\0" * LIMIT)
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["title"] == "Image too large"
    assert not (objects.root / "originals").exists()
    assert client.get(f"/products/{product['id']}").json()["version"] == 1


@pytest.mark.parametrize(
    ("data", "content_type", "detail"),
    [
        (jpeg(20, 20), "image/png", "the bytes are image/jpeg"),  # the header lies
        (b"<svg xmlns='http://www.w3.org/2000/svg'/>", "image/jpeg", "not an image"),
        (png(20, 20), "image/gif", "not one of"),
    ],
)
def test_only_real_jpeg_png_or_webp_is_accepted(
    client: TestClient,
    product: dict[str, Any],
    objects: LocalDirectoryStore,
    data: bytes,
    content_type: str,
    detail: str,
) -> None:
    response = upload(client, product["id"], data, content_type)
    assert response.status_code == 415
    problem = response.json()
    assert detail in problem["detail"]
    assert problem["errors"][0]["field"] == "file"
    assert not (objects.root / "originals").exists()


def test_uploads_need_a_known_product_a_form_and_the_write_key(client: TestClient, product: dict[str, Any]) -> None:
    unknown = upload(client, "0190f3a0-0000-7000-8000-00000000dead", jpeg(10, 10))
    assert unknown.status_code == 404
    not_a_form = client.post(
        f"/products/{product['id']}/images", content=jpeg(10, 10), headers={"Content-Type": "image/jpeg"}
    )
    assert not_a_form.status_code == 415
    anonymous = upload(client, product["id"], jpeg(10, 10), headers={"Authorization": ""})
    assert anonymous.status_code == 401


def test_a_product_keeps_at_most_twenty_images(client: TestClient, unique: str) -> None:
    images = [f"https://img.test/{unique}/{n}.jpg" for n in range(20)]
    body = {"sku": f"FULL-{unique}", "name": "Full", "price": "1.00", "currency": "EUR", "images": images}
    product = client.post("/products", json=body).json()
    response = upload(client, product["id"], jpeg(10, 10))
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "images"


def test_only_media_is_served_and_keys_cannot_escape(client: TestClient, objects: LocalDirectoryStore) -> None:
    objects.put("imports/job/feed", io.BytesIO(b"sku,name\nsecret,row\n"))
    objects.put("media/ab/x.webp", io.BytesIO(b"RIFF....WEBP"))
    assert client.get("/media/media/ab/x.webp").headers["content-type"] == "image/webp"
    assert client.get("/media/imports/job/feed").status_code == 404  # feeds share the store, never served
    assert client.get("/media/media/%2e%2e/%2e%2e/imports/job/feed").status_code == 404
    assert client.get("/media/media/ab/missing.webp").status_code == 404
