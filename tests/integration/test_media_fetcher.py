"""Fetching originals from a local HTTP server (allowlisted) under the outbound policy: deadline, size cap, content
type, redirects, internal addresses, own uploads."""

import io
from collections.abc import Iterator
from pathlib import Path

import pytest

from catalog_kit.object_store import LocalDirectoryStore
from catalog_kit.outbound import OutboundClient
from catalog_kit.outbound_policy import OutboundPolicy
from catalog_media.adapters.fetcher import ImageFetcher
from catalog_media.domain.images import Failure, ImageRejected, Reason
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
def fetcher(store: LocalDirectoryStore, server: ImageServer) -> Iterator[ImageFetcher]:
    client = OutboundClient(OutboundPolicy.parse(server.address), timeout_s=0.5)
    fetcher = ImageFetcher(store, BASE, client, max_bytes=100_000, deadline_s=2.0)
    yield fetcher
    fetcher.close()


def rejected(fetcher: ImageFetcher, url: str) -> Failure:
    with pytest.raises(ImageRejected) as exc:
        fetcher.fetch(url)
    return exc.value.failure


def test_an_image_is_fetched_whole(server: ImageServer, fetcher: ImageFetcher) -> None:
    data = jpeg(64, 48)
    assert fetcher.fetch(server.serve("/a.jpg", Served(data))) == data


def test_redirects_are_followed_only_where_the_policy_allows(server: ImageServer, fetcher: ImageFetcher) -> None:
    data = jpeg(32, 32)
    target = server.serve("/moved.jpg", Served(data))
    url = server.serve("/old.jpg", Served(b"", "text/plain", 301, headers={"Location": target}))
    assert fetcher.fetch(url) == data
    sneaky = server.serve("/sneaky.jpg", Served(b"", "text/plain", 302, headers={"Location": "file:///etc/passwd"}))
    assert rejected(fetcher, sneaky) is Failure.BLOCKED_ADDRESS
    inside = server.serve("/inside.jpg", Served(b"", "text/plain", 302, headers={"Location": "http://10.0.0.1/"}))
    assert rejected(fetcher, inside) is Failure.BLOCKED_ADDRESS
    loop = server.serve("/loop.jpg", Served(b"", "text/plain", 302, headers={"Location": "/loop.jpg"}))
    assert rejected(fetcher, loop) is Failure.UNREACHABLE


@pytest.mark.parametrize(
    ("served", "failure"),
    [
        (Served(b"<html>", "text/html"), Failure.WRONG_CONTENT_TYPE),
        (Served(b"x" * 100_001), Failure.TOO_MANY_BYTES),
        (Served(b"gone", "text/plain", 404), Failure.HTTP_ERROR),
        (Served(b"busy", "text/plain", 503), Failure.UNREACHABLE),
        (Served(b"slow", delay_s=1.5), Failure.TIMEOUT),
        (Served(b"", drip_s=0.1), Failure.TIMEOUT),
    ],
    ids=["html", "too-large", "404", "503", "slow", "drip"],
)
def test_bad_answers_are_refused_with_a_reason(
    server: ImageServer, fetcher: ImageFetcher, served: Served, failure: Failure
) -> None:
    assert rejected(fetcher, server.serve("/x.jpg", served)) is failure


def test_internal_hosts_and_other_schemes_are_refused_unasked(fetcher: ImageFetcher) -> None:
    assert rejected(fetcher, "http://127.0.0.1:9/nothing.jpg") is Failure.BLOCKED_ADDRESS  # not allowlisted
    assert rejected(fetcher, "http://[::ffff:10.0.0.1]/a.jpg") is Failure.BLOCKED_ADDRESS
    assert rejected(fetcher, "ftp://example.com/a.jpg") is Failure.BLOCKED_ADDRESS


def test_failures_tell_clients_only_a_coarse_reason(server: ImageServer, fetcher: ImageFetcher) -> None:
    with pytest.raises(ImageRejected) as failed:
        fetcher.fetch(server.serve("/busy.jpg", Served(b"busy", "text/plain", 503)))
    assert (failed.value.reason, failed.value.cause) == (Reason.UNREACHABLE, "unreachable: HTTP 503")
    with pytest.raises(ImageRejected) as failed:
        fetcher.fetch("http://localhost:55532/")
    assert failed.value.reason is Reason.BLOCKED_ADDRESS
    assert "loopback" in failed.value.cause  # the rule is logged, never shown


def test_own_uploads_are_read_from_the_store(fetcher: ImageFetcher, store: LocalDirectoryStore) -> None:
    store.put("originals/ab/upload.jpg", io.BytesIO(b"original bytes"))
    assert fetcher.fetch(f"{BASE}/originals/ab/upload.jpg") == b"original bytes"
    assert rejected(fetcher, f"{BASE}/originals/ab/missing.jpg") is Failure.BAD_SOURCE
    assert rejected(fetcher, f"{BASE}/../../etc/passwd") is Failure.BAD_SOURCE
