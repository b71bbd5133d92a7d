"""Media on the real PostgreSQL: guarded writes of the media rows with their event, and a product's images
processed in-process (fetch from a local server, derivatives in the store, content-hash reuse, regeneration)."""

import asyncio
import io
import secrets
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from catalog_api.adapters import migrations as api_migrations
from catalog_api.entrypoints.http import create_app
from catalog_api.settings import ApiSettings
from catalog_core.adapters import migrations as core_migrations
from catalog_core.domain.products import ProductDraft
from catalog_core.service_layer.catalog import ProductCatalog
from catalog_enricher.adapters import migrations as enricher_migrations
from catalog_kit.db import libpq_conninfo, make_engine, make_session_factory
from catalog_kit.object_store import LocalDirectoryStore
from catalog_kit.outbound import OutboundClient
from catalog_kit.outbound_policy import OutboundPolicy
from catalog_kit.outbox import OutboxWriter, outbox
from catalog_media.adapters import migrations as media_migrations
from catalog_media.adapters.fetcher import ImageFetcher
from catalog_media.adapters.media_store import MediaStore, SaveOutcome
from catalog_media.adapters.pipeline import Limits, PillowRenderer
from catalog_media.domain.geometry import Renditions
from catalog_media.domain.images import Derivative, ImageOutcome, MediaResult, Reason
from catalog_media.service_layer.media_processing import ImageWorker, MediaService
from catalog_schemas import validate_event
from catalog_stack.infra import Endpoints
from tests.conftest import WRITE_KEY
from tests.images import (
    ImageServer,
    Served,
    image_server,
    internal_spellings,
    jpeg,
    listener,
    own_host_name,
    truncated_jpeg,
)
from tests.support import wait_until

BASE = "http://media.test/media"
RENDITIONS = Renditions((400, 100))
FP = RENDITIONS.fingerprint()


def new_product(api: TestClient, unique: str, images: list[str]) -> dict[str, Any]:
    body = {"sku": f"IMG-{unique}", "name": f"Pictured {unique}", "price": "5.00", "currency": "EUR", "images": images}
    response = api.post("/products", json=body)
    assert response.status_code == 201, response.text
    product: dict[str, Any] = response.json()
    return product


def media_events(sessions: sessionmaker[Session], product_id: str) -> list[dict[str, Any]]:
    with sessions() as s:
        rows = s.execute(
            select(outbox.c.payload, outbox.c.event_type)
            .where(outbox.c.aggregate_id == product_id, outbox.c.event_type == "product.media_processed")
            .order_by(outbox.c.id)
        ).all()
    for row in rows:
        validate_event(row.event_type, row.payload)
    return [row.payload for row in rows]


def outcome(url: str, key: str = "media/aa/x.webp") -> ImageOutcome:
    return ImageOutcome(
        url,
        "processed",
        FP,
        sha256="c" * 64,
        width=10,
        height=10,
        dominant_color="#000000",
        derivatives=(Derivative(100, "webp", 10, 10, key),),
    )


@pytest.fixture
def sessions(fresh_database: str) -> Iterator[sessionmaker[Session]]:
    """A catalog database of the test's own: a running media worker never processes these products meanwhile."""
    engine = make_engine(fresh_database, pool_size=4)
    yield make_session_factory(engine)
    engine.dispose()


@pytest.fixture
def api(api_settings: ApiSettings, sessions: sessionmaker[Session]) -> Iterator[TestClient]:
    with TestClient(create_app(api_settings, sessions), headers={"Authorization": f"Bearer {WRITE_KEY}"}) as client:
        yield client


@pytest.fixture
def media_store(sessions: sessionmaker[Session]) -> MediaStore:
    return MediaStore(sessions, OutboxWriter("/catalog/media"), BASE)


def test_results_are_stored_with_their_event_once(
    api: TestClient, api_settings: ApiSettings, media_store: MediaStore, sessions: sessionmaker[Session], unique: str
) -> None:
    product = new_product(api, unique, ["https://img.test/a.jpg", "https://img.test/b.jpg"])
    result = MediaResult(
        product["id"],
        1,
        (outcome("https://img.test/a.jpg"), ImageOutcome.failed("https://img.test/b.jpg", FP, Reason.NOT_AN_IMAGE)),
    )
    assert media_store.save(result) is SaveOutcome.SAVED
    assert media_store.save(result) is SaveOutcome.UNCHANGED  # a duplicate event: nothing written, nothing sent
    [event] = media_events(sessions, product["id"])
    assert event["version"] == 1
    assert event["thumbnail_url"] == f"{BASE}/media/aa/x.webp"
    assert [i["status"] for i in event["images"]] == ["processed", "failed"]
    assert [s.outcome for s in media_store.stored_images(product["id"])] == list(result.images)
    view = api.get(f"/products/{product['id']}/images").json()
    assert [i["status"] for i in view["images"]] == ["processed", "failed"]
    # The API names derivatives under its own public base URL.
    assert view["images"][0]["derivatives"][0]["url"] == f"{api_settings.media_base_url}/media/aa/x.webp"


def test_a_result_for_an_image_list_the_product_no_longer_has_is_stale(
    api: TestClient, media_store: MediaStore, sessions: sessionmaker[Session], unique: str
) -> None:
    product = new_product(api, unique, ["https://img.test/old.jpg"])
    patched = api.patch(
        f"/products/{product['id']}", json={"images": ["https://img.test/new.jpg"]}, headers={"If-Match": '"1"'}
    )
    assert patched.status_code == 200
    assert media_store.save(MediaResult(product["id"], 1, (outcome("https://img.test/old.jpg"),))) is SaveOutcome.STALE
    assert media_events(sessions, product["id"]) == []
    # Another core change keeps the images: the result still holds.
    api.patch(f"/products/{product['id']}", json={"name": "Renamed"}, headers={"If-Match": '"2"'})
    assert media_store.save(MediaResult(product["id"], 2, (outcome("https://img.test/new.jpg"),))) is SaveOutcome.SAVED
    # A late result from an even older computation never replaces it.
    late = MediaResult(product["id"], 1, (outcome("https://img.test/new.jpg", "media/bb/older.webp"),))
    assert media_store.save(late) is SaveOutcome.UNCHANGED
    assert len(media_events(sessions, product["id"])) == 1


def test_a_deleted_product_gets_nothing(api: TestClient, media_store: MediaStore, unique: str) -> None:
    product = new_product(api, unique, ["https://img.test/a.jpg"])
    assert api.delete(f"/products/{product['id']}").status_code == 204
    result = MediaResult(product["id"], 1, (outcome("https://img.test/a.jpg"),))
    assert media_store.save(result) is SaveOutcome.GONE


class Counting:
    """Counts how often known content was looked up and found."""

    def __init__(self, store: MediaStore) -> None:
        self.store, self.found = store, 0

    def __call__(self, sha256: str, renditions: str) -> ImageOutcome | None:
        known = self.store.processed_content(sha256, renditions)
        self.found += known is not None
        return known


@pytest.fixture
def server() -> Iterator[ImageServer]:
    with image_server() as server:
        yield server


@pytest.fixture
def objects(tmp_path: Path) -> LocalDirectoryStore:
    return LocalDirectoryStore(tmp_path)


def service(
    media_store: MediaStore,
    objects: LocalDirectoryStore,
    server: ImageServer,
    renditions: Renditions = RENDITIONS,
    deadline_s: float = 5,
) -> tuple[MediaService, Counting]:
    """The media worker's path in-process; of loopback, only the test's image server is allowed."""
    client = OutboundClient(OutboundPolicy.parse(server.address), timeout_s=2)
    fetcher = ImageFetcher(objects, BASE, client, max_bytes=5_000_000, deadline_s=deadline_s)
    known = Counting(media_store)
    worker = ImageWorker(fetcher, objects, renditions, PillowRenderer(Limits(10_000_000, 10_000)), known)
    return MediaService(worker, media_store, ThreadPoolExecutor(2)), known


def test_a_products_images_are_processed_once_and_equal_bytes_are_not_decoded_again(
    api: TestClient,
    media_store: MediaStore,
    objects: LocalDirectoryStore,
    server: ImageServer,
    sessions: sessionmaker[Session],
    unique: str,
) -> None:
    photo = jpeg(800, 600, colour=(int(unique[:2], 16), int(unique[2:4], 16), int(unique[4:6], 16)))  # new bytes
    urls = [
        server.serve(f"/{unique}/a.jpg", Served(photo)),
        server.serve(f"/{unique}/bad.jpg", Served(truncated_jpeg())),
    ]
    product = new_product(api, unique, urls)
    media, known = service(media_store, objects, server)

    assert asyncio.run(media.process_product(product["id"], 1, urls)) is SaveOutcome.SAVED
    [good, bad] = [s.outcome for s in media_store.stored_images(product["id"])]
    assert (bad.status, bad.reason, bad.sha256) == ("failed", "not_an_image", None)  # no hash of refused bytes
    assert (good.width, good.height) == (800, 600)
    assert [(d.size, d.format, d.width, d.height) for d in good.derivatives] == [
        (400, "webp", 400, 300),
        (400, "jpeg", 400, 300),
        (100, "webp", 100, 75),
        (100, "jpeg", 100, 75),
    ]
    for d in good.derivatives:
        with objects.open(d.key) as stream:
            assert Image.open(io.BytesIO(stream.read())).size == (d.width, d.height)

    # The same event again: nothing is fetched, nothing stored, nothing sent.
    assert asyncio.run(media.process_product(product["id"], 1, urls)) is SaveOutcome.UNCHANGED
    assert server.requests[f"/{unique}/a.jpg"] == 1

    # The same bytes under another URL of another product: fetched (to hash them), not decoded again.
    twin_url = server.serve(f"/{unique}/twin.jpg", Served(photo))
    twin = new_product(api, f"{unique}t", [twin_url])
    assert asyncio.run(media.process_product(twin["id"], 1, [twin_url])) is SaveOutcome.SAVED
    assert known.found == 1
    [twin_image] = [s.outcome for s in media_store.stored_images(twin["id"])]
    assert twin_image.derivatives == good.derivatives

    # Regeneration fetches and decodes even known content; a new size list redoes everything too.
    assert asyncio.run(media.regenerate(twin["id"])) is SaveOutcome.UNCHANGED  # same sizes: same bytes, same keys
    assert server.requests[f"/{unique}/twin.jpg"] == 2
    assert known.found == 1
    resized, _ = service(media_store, objects, server, Renditions((300,)))
    assert asyncio.run(resized.process_product(twin["id"], 1, [twin_url])) is SaveOutcome.SAVED
    [redone] = [s.outcome for s in media_store.stored_images(twin["id"])]
    assert [(d.size, d.width) for d in redone.derivatives] == [(300, 300), (300, 300)]
    assert len(media_events(sessions, twin["id"])) == 2


def test_a_failed_fetch_is_retried_on_the_next_event(
    api: TestClient, media_store: MediaStore, objects: LocalDirectoryStore, server: ImageServer, unique: str
) -> None:
    url = server.serve(f"/{unique}/flaky.jpg", Served(b"down", "text/plain", 503))
    product = new_product(api, unique, [url])
    media, _ = service(media_store, objects, server)
    asyncio.run(media.process_product(product["id"], 1, [url]))
    [first] = media_store.stored_images(product["id"])
    assert first.outcome.reason == "unreachable"
    server.serve(f"/{unique}/flaky.jpg", Served(jpeg(50, 50)))
    asyncio.run(media.process_product(product["id"], 1, [url]))
    [second] = media_store.stored_images(product["id"])
    assert second.outcome.status == "processed"


def test_hostile_urls_reach_nothing_inside_and_clients_see_only_coarse_reasons(
    api: TestClient, media_store: MediaStore, objects: LocalDirectoryStore, server: ImageServer, unique: str
) -> None:
    with listener() as inside:
        hostile = list(internal_spellings(inside.port).values())
        if (name := own_host_name()) is not None:
            hostile.append(f"http://{name}:{inside.port}/a.jpg")  # resolved by the system resolver
        hostile.append(
            server.serve(
                f"/{unique}/hop.jpg",
                Served(b"", "text/plain", 302, headers={"Location": f"http://127.0.0.1:{inside.port}/a.jpg"}),
            )
        )
        others = [
            server.serve(f"/{unique}/noise.jpg", Served(b"\x00not an image at all" * 50)),
            server.serve(f"/{unique}/busy.jpg", Served(b"busy", "text/plain", 503)),
        ]
        product = new_product(api, unique, hostile + others)
        media, _ = service(media_store, objects, server)
        assert asyncio.run(media.process_product(product["id"], 1, hostile + others)) is SaveOutcome.SAVED
        assert inside.connections == []
    stored = [s.outcome for s in media_store.stored_images(product["id"])]
    assert [(o.status, o.reason) for o in stored] == [("failed", "blocked_address")] * len(hostile) + [
        ("failed", "not_an_image"),
        ("failed", "unreachable"),
    ]
    view = api.get(f"/products/{product['id']}/images").json()["images"]
    assert [i["reason"] for i in view] == [o.reason for o in stored]  # the code alone: no detail, host or port
    assert all(i["sha256"] is None for i in view)  # no hash of what an address answered


def test_a_dripping_image_is_cut_off_at_the_deadline_and_the_worker_carries_on(
    api: TestClient, media_store: MediaStore, objects: LocalDirectoryStore, server: ImageServer, unique: str
) -> None:
    urls = [
        server.serve(f"/{unique}/drip.jpg", Served(b"", drip_s=0.1)),
        server.serve(f"/{unique}/fine.jpg", Served(jpeg(60, 40))),
    ]
    product = new_product(api, unique, urls)
    media, _ = service(media_store, objects, server, deadline_s=1)
    assert asyncio.run(media.process_product(product["id"], 1, urls)) is SaveOutcome.SAVED
    [dripped, fine] = [s.outcome for s in media_store.stored_images(product["id"])]
    assert (dripped.status, dripped.reason) == ("failed", "timeout")
    assert fine.status == "processed"
    wait_until(lambda: server.hung_up.get(f"/{unique}/drip.jpg"), timeout=10)  # the connection was closed


def test_only_coarse_reasons_and_no_hash_of_a_failed_image_can_be_stored(
    api: TestClient, media_store: MediaStore, unique: str
) -> None:
    product = new_product(api, unique, ["https://img.test/a.jpg"])
    detailed = ImageOutcome("https://img.test/a.jpg", "failed", FP, reason="unreachable: ConnectError: refused")
    hashed = ImageOutcome("https://img.test/a.jpg", "failed", FP, reason="not_an_image", sha256="d" * 64)
    for outcome in (detailed, hashed):
        with pytest.raises(IntegrityError):
            media_store.save(MediaResult(product["id"], 1, (outcome,)))


@pytest.fixture
def database_before_coarse_reasons(endpoints: Endpoints) -> Iterator[str]:
    """A catalog database whose media tables stop at the revision before coarse reasons."""
    name = f"catalog_t_{secrets.token_hex(4)}"
    admin = libpq_conninfo(str(make_url(endpoints.database_url).set(database="postgres")))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = make_url(endpoints.database_url).set(database=name).render_as_string(hide_password=False)
    for chain in (core_migrations, api_migrations, enricher_migrations):
        chain.upgrade(url)
    media_migrations.upgrade(url, revision="0001")
    try:
        yield url
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_reasons_stored_before_are_cut_down_to_their_code(database_before_coarse_reasons: str) -> None:
    engine = make_engine(database_before_coarse_reasons, pool_size=1)
    old = {
        "unreachable: RemoteProtocolError: Server disconnected without sending a response.": "unreachable",
        "unreachable: ConnectError: [Errno 111] Connection refused": "unreachable",
        "not_an_image: no image format recognised": "not_an_image",
        "truncated: image file is truncated": "not_an_image",
        "http_error: HTTP 404": "not_an_image",
        "too_many_pixels: 50000x50000": "too_large",
        "too_many_bytes: more than 100 bytes": "too_large",
        "bad_source: not an http(s) URL": "not_an_image",
    }
    try:
        with make_session_factory(engine)() as session, session.begin():
            catalog = ProductCatalog(session, OutboxWriter("/catalog/product-api"))
            urls = [f"https://img.test/{n}.jpg" for n in range(len(old))]
            draft = ProductDraft.model_validate(
                {"sku": "OLD-1", "name": "Old", "price": "1", "currency": "EUR", "images": urls}
            )
            product_id = str(catalog.create(draft)[0].id)
            for position, reason in enumerate(old):
                session.execute(
                    text(
                        "INSERT INTO product_images (product_id, position, source, sha256, status, reason, "
                        "renditions, computed_from_version) VALUES (:p, :n, :u, :sha, 'failed', :r, 'r1', 1)"
                    ),
                    {"p": product_id, "n": position, "u": urls[position], "sha": "e" * 64, "r": reason},
                )
        media_migrations.upgrade(database_before_coarse_reasons)
        with engine.connect() as connection:
            rows = connection.execute(
                text("SELECT reason, sha256 FROM product_images WHERE product_id = :p ORDER BY position"),
                {"p": product_id},
            ).all()
    finally:
        engine.dispose()
    assert [(r.reason, r.sha256) for r in rows] == [(code, None) for code in old.values()]
