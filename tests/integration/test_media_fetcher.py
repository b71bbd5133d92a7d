"""Fetching originals from a local HTTP server: timeouts, size cap, content type, redirects, own uploads."""

import io
from collections.abc import Iterator
from pathlib import Path

import pytest

from catalog_kit.object_store import LocalDirectoryStore
from catalog_media.adapters.fetcher import ImageFetcher
from catalog_media.domain.images import Failure, ImageRejected
from tests.images import ImageServer, Served, image_server, jpeg

BASE = "http://media.test/media"


@pytest.fixture
def server() -> Iterator[ImageServer]:
    with image_server() as server:
        yield server


@pytest.fixture
def store(tmp_path: Path) -> LocalDirectoryStore:
    return LocalDirectoryStore(tmp_path)


@pytest.fixture
def fetcher(store: LocalDirectoryStore) -> Iterator[ImageFetcher]:
    fetcher = ImageFetcher(store, BASE, max_bytes=100_000, timeout_s=0.5, deadline_s=2.0)
    yield fetcher
    fetcher.close()


def rejected(fetcher: ImageFetcher, url: str) -> Failure:
    with pytest.raises(ImageRejected) as exc:
        fetcher.fetch(url)
    return exc.value.failure


def test_an_image_is_fetched_whole(server: ImageServer, fetcher: ImageFetcher) -> None:
    data = jpeg(64, 48)
    assert fetcher.fetch(server.serve("/a.jpg", Served(data))) == data


def test_redirects_are_followed_only_to_http(server: ImageServer, fetcher: ImageFetcher) -> None:
    data = jpeg(32, 32)
    target = server.serve("/moved.jpg", Served(data))
    url = server.serve("/old.jpg", Served(b"", "text/plain", 301, headers={"Location": target}))
    assert fetcher.fetch(url) == data
    sneaky = server.serve("/sneaky.jpg", Served(b"", "text/plain", 302, headers={"Location": "file:///etc/passwd"}))
    assert rejected(fetcher, sneaky) is Failure.BAD_SOURCE
    loop = server.serve("/loop.jpg", Served(b"", "text/plain", 302, headers={"Location": "/loop.jpg"}))
    assert rejected(fetcher, loop) is Failure.BAD_SOURCE


@pytest.mark.parametrize(
    ("served", "failure"),
    [
        (Served(b"<html>", "text/html"), Failure.WRONG_CONTENT_TYPE),
        (Served(b"x" * 100_001), Failure.TOO_MANY_BYTES),
        (Served(b"gone", "text/plain", 404), Failure.HTTP_ERROR),
        (Served(b"busy", "text/plain", 503), Failure.UNREACHABLE),
        (Served(b"slow", delay_s=1.5), Failure.UNREACHABLE),
    ],
    ids=["html", "too-large", "404", "503", "slow"],
)
def test_bad_answers_are_refused_with_a_reason(
    server: ImageServer, fetcher: ImageFetcher, served: Served, failure: Failure
) -> None:
    assert rejected(fetcher, server.serve("/x.jpg", served)) is failure


def test_unreachable_hosts_and_other_schemes(fetcher: ImageFetcher) -> None:
    assert rejected(fetcher, "http://127.0.0.1:9/nothing.jpg") is Failure.UNREACHABLE  # discard port: refused
    assert rejected(fetcher, "ftp://example.com/a.jpg") is Failure.BAD_SOURCE


def test_own_uploads_are_read_from_the_store(fetcher: ImageFetcher, store: LocalDirectoryStore) -> None:
    store.put("originals/ab/upload.jpg", io.BytesIO(b"original bytes"))
    assert fetcher.fetch(f"{BASE}/originals/ab/upload.jpg") == b"original bytes"
    assert rejected(fetcher, f"{BASE}/originals/ab/missing.jpg") is Failure.BAD_SOURCE
    assert rejected(fetcher, f"{BASE}/../../etc/passwd") is Failure.BAD_SOURCE
