"""The local object store: atomic writes (nothing half-written is ever visible), size limits, safe keys."""

import io
from pathlib import Path

import pytest

from catalog_kit.object_store import (
    LocalDirectoryStore,
    ObjectNotFound,
    ObjectTooLarge,
    content_key,
    sha256,
)


def test_put_then_read_back_from_an_offset(tmp_path: Path) -> None:
    store = LocalDirectoryStore(tmp_path)
    stored = store.put("imports/job-1/feed", io.BytesIO(b"sku,name\nA,B\n"))
    assert stored.size == 13
    assert stored.sha256 == sha256(io.BytesIO(b"sku,name\nA,B\n"))
    assert store.exists("imports/job-1/feed")
    with store.open("imports/job-1/feed", 9) as stream:
        assert stream.read() == b"A,B\n"
    store.delete("imports/job-1/feed")
    store.delete("imports/job-1/feed")  # deleting twice is fine
    with pytest.raises(ObjectNotFound):
        store.open("imports/job-1/feed")


def test_an_object_is_invisible_until_committed_and_gone_if_aborted(tmp_path: Path) -> None:
    store = LocalDirectoryStore(tmp_path)
    writer = store.writer("a/b")
    writer.write(b"half")
    assert not store.exists("a/b")
    writer.abort()
    assert not store.exists("a/b")
    assert list((tmp_path / "a").iterdir()) == []  # no temporary file left behind
    with store.writer("a/b") as second:
        second.write(b"whole")
        second.commit()
    assert store.path("a/b").read_bytes() == b"whole"


def test_a_write_past_its_limit_stores_nothing(tmp_path: Path) -> None:
    store = LocalDirectoryStore(tmp_path)
    with pytest.raises(ObjectTooLarge):
        store.put("big", io.BytesIO(b"x" * 10_000), max_bytes=9_999)
    assert not store.exists("big")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("key", ["../escape", "/abs", "a//b", "a/../b", "", ".hidden"])
def test_keys_cannot_leave_the_store(tmp_path: Path, key: str) -> None:
    with pytest.raises(ValueError, match="invalid object key"):
        LocalDirectoryStore(tmp_path).path(key)


def test_content_keys_fan_out_by_digest() -> None:
    digest = sha256(io.BytesIO(b"image"))
    assert content_key(digest, suffix=".jpg") == f"sha256/{digest[:2]}/{digest}.jpg"
    with pytest.raises(ValueError, match="SHA-256"):
        content_key("nope")
