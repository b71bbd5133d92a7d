"""Media through real processes: image URLs served on 127.0.0.1 become derivatives in the store, media fields in
the catalog and a thumbnail in search hits; a media worker killed mid-batch loses no image."""

import io
import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from catalog_kit.object_store import LocalDirectoryStore
from catalog_stack.processes import is_alive
from tests.conftest import WRITE_KEY, System
from tests.images import ImageServer, Served, jpeg, png_claiming, truncated_jpeg
from tests.support import wait_until

AUTH = {"Authorization": f"Bearer {WRITE_KEY}"}


@pytest.fixture
def http(running_system: System) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=running_system.api_url, headers=AUTH, timeout=10) as client:
        yield client


@pytest.fixture
def server(image_host: ImageServer) -> ImageServer:
    """The session's image server, the only loopback address the running media worker may fetch from."""
    return image_host


@pytest.fixture
def media_ready(http: httpx.Client, server: ImageServer) -> None:
    """The media worker joined its group (the first join of a fresh consumer group takes a few seconds)."""
    token = uuid.uuid4().hex[:12]
    product = create(http, token, [server.serve(f"/{token}/warm-up.jpg", Served(jpeg(40, 30)))])
    wait_until(lambda: media_of(http, product["id"]), timeout=90, interval=0.1)


def create(http: httpx.Client, token: str, images: list[str]) -> dict[str, Any]:
    body = {
        "sku": f"MED-{token}",
        "name": f"Framed print {token}",
        "price": "30.00",
        "currency": "EUR",
        "images": images,
    }
    response = http.post("/products", json=body)
    assert response.status_code == 201, response.text
    product: dict[str, Any] = response.json()
    return product


def media_of(http: httpx.Client, product_id: str) -> list[dict[str, Any]] | None:
    """The product's images once none is pending any more."""
    images: list[dict[str, Any]] = http.get(f"/products/{product_id}/images").json()["images"]
    return images if images and all(i["status"] != "pending" for i in images) else None


def key_of(system: System, url: str) -> str:
    base = system.env["MEDIA_BASE_URL"].rstrip("/") + "/"
    assert url.startswith(base)
    return url.removeprefix(base)


def test_image_urls_become_derivatives_media_fields_and_a_thumbnail_in_search(
    running_system: System, http: httpx.Client, server: ImageServer, media_ready: None
) -> None:
    token = uuid.uuid4().hex[:12]
    urls = [
        server.serve(f"/{token}/landscape.jpg", Served(jpeg(1600, 1200, colour=(220, 40, 40)))),
        server.serve(f"/{token}/portrait.jpg", Served(jpeg(900, 1200, colour=(40, 40, 220)))),
    ]
    posted = time.monotonic()
    product = create(http, token, urls)
    # "Within a few seconds", even behind the other tests' backlog on the topic (alone: ~0.1 s).
    images = wait_until(lambda: media_of(http, product["id"]), timeout=10, interval=0.05)
    print(f"POST → derivatives of 2 images: {time.monotonic() - posted:.2f} s")

    store = LocalDirectoryStore(Path(running_system.env["OBJECT_STORE_DIR"]))
    expected = {
        0: [(1200, 1200, 900), (600, 600, 450), (200, 200, 150)],
        1: [(1200, 900, 1200), (600, 450, 600), (200, 150, 200)],
    }
    for position, image in enumerate(images):
        assert image["status"] == "processed", image
        assert image["url"] == urls[position]
        assert image["version"] == 1
        assert image["dominant_color"].startswith("#")
        made = sorted((d["size"], d["format"], d["width"], d["height"]) for d in image["derivatives"])
        assert made == sorted((s, f, w, h) for s, w, h in expected[position] for f in ("webp", "jpeg"))
        for d in image["derivatives"]:
            with store.open(key_of(running_system, d["url"])) as stream:
                stored = Image.open(io.BytesIO(stream.read()))
            assert stored.format == {"webp": "WEBP", "jpeg": "JPEG"}[d["format"]]
            assert stored.size == (d["width"], d["height"])
    assert (images[0]["width"], images[0]["height"]) == (1600, 1200)
    red = int(images[0]["dominant_color"][1:3], 16)
    assert red > 150

    thumbnail = next(d["url"] for d in images[0]["derivatives"] if d["size"] == 200 and d["format"] == "webp")
    served = httpx.get(thumbnail)  # the API serves the local store
    assert served.status_code == 200
    assert served.headers["content-type"] == "image/webp"

    def hit() -> dict[str, Any] | None:
        hits = httpx.get(f"{running_system.search_url}/search", params={"q": f"MED-{token}"}).json()["hits"]
        return hits[0] if hits and hits[0]["thumbnail_url"] else None

    assert wait_until(hit, timeout=15)["thumbnail_url"] == thumbnail


def test_hostile_images_fail_with_a_reason_and_the_worker_carries_on(
    running_system: System, http: httpx.Client, server: ImageServer
) -> None:
    token = uuid.uuid4().hex[:12]
    urls = [
        server.serve(f"/{token}/bomb.png", Served(png_claiming(50_000, 50_000), "image/png")),
        server.serve(f"/{token}/cut.jpg", Served(truncated_jpeg())),
        server.serve(f"/{token}/noise.jpg", Served(os.urandom(5000))),
        server.serve(f"/{token}/fine.jpg", Served(jpeg(300, 200))),
    ]
    product = create(http, token, urls)
    images = wait_until(lambda: media_of(http, product["id"]), timeout=60, interval=0.1)
    # Coarse reasons only; the exact cause (too_many_pixels, truncated, ...) is in the media worker's log.
    assert [i["reason"] for i in images] == ["too_large", "not_an_image", "not_an_image", None]
    assert [i["sha256"] is None for i in images] == [True, True, True, False]
    assert images[3]["status"] == "processed"
    assert running_system.process("media").child_pid() is not None


def test_a_media_worker_killed_mid_batch_loses_no_image(
    running_system: System, http: httpx.Client, server: ImageServer
) -> None:
    token = uuid.uuid4().hex[:10]
    media = running_system.process("media")
    media.stop()  # the batch waits on the topic, so the worker is surely in the middle of it when killed
    products = []
    for n in range(20):
        urls = [
            server.serve(f"/{token}/{n}/{side}.jpg", Served(jpeg(2400, 1800, colour=(n * 10, side * 100, 90))))
            for side in (0, 1)
        ]
        products.append(create(http, f"{token}{n}", urls)["id"])

    def done() -> int:
        return sum(media_of(http, pid) is not None for pid in products)

    running_system.restart("media")
    wait_until(lambda: done() >= 1, timeout=60, interval=0.02)
    pid = running_system.kill("media")
    wait_until(lambda: not is_alive(pid), timeout=10)
    finished_before = done()
    assert finished_before < len(products), "the batch finished before the kill: make it larger"

    # No restart by hand: the supervisor starts the media worker again.
    wait_until(lambda: done() == len(products), timeout=120, interval=0.25)
    for product_id in products:
        images = media_of(http, product_id)
        assert images is not None
        assert [i["status"] for i in images] == ["processed", "processed"]
    print(f"killed with {finished_before}/20 products done; all 20 done after the restart")
