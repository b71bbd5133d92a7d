"""The object-store contract, on both backends: the local directory and a real S3-compatible server."""

import io
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from catalog_kit.object_store import LocalDirectoryStore, ObjectNotFound, ObjectStore, ObjectTooLarge, object_store
from catalog_kit.object_store.s3 import S3Store
from catalog_kit.settings import CatalogSettings
from tests.s3 import S3Server, s3_server


@pytest.fixture(scope="module")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    root = tmp_path_factory.mktemp("s3")
    (root / "data").mkdir()
    with s3_server(root / "data", root / "rclone.log") as server:
        yield server


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> ObjectStore:
    if request.param == "local":
        return LocalDirectoryStore(tmp_path)
    server: S3Server = request.getfixturevalue("s3")
    return server.store(f"b{uuid.uuid4().hex[:12]}")


def test_put_then_read_back_from_an_offset(store: ObjectStore) -> None:
    stored = store.put("imports/job-1/feed", io.BytesIO(b"sku,name\nA,B\n"))
    assert (stored.key, stored.size) == ("imports/job-1/feed", 13)
    assert store.exists("imports/job-1/feed")
    with store.open("imports/job-1/feed", 9) as stream:
        assert stream.read() == b"A,B\n"
    with store.open("imports/job-1/feed", 13) as stream:
        assert stream.read() == b""
    store.delete("imports/job-1/feed")
    store.delete("imports/job-1/feed")  # deleting twice is fine
    assert not store.exists("imports/job-1/feed")
    with pytest.raises(ObjectNotFound):
        store.open("imports/job-1/feed")


def test_an_object_is_invisible_until_committed_and_gone_if_aborted(store: ObjectStore) -> None:
    writer = store.writer("a/b")
    writer.write(b"half")
    assert not store.exists("a/b")
    writer.abort()
    assert not store.exists("a/b")
    second = store.writer("a/b")
    second.write(b"whole")
    assert not store.exists("a/b")
    stored = second.commit()
    assert stored.size == 5
    with store.open("a/b") as stream:
        assert stream.read() == b"whole"


def test_large_objects_arrive_whole(store: ObjectStore) -> None:
    data = bytes(range(256)) * (40 * 1024)  # 10 MiB: a multipart upload on S3
    stored = store.put("big/object", io.BytesIO(data))
    assert stored.size == len(data)
    with store.open("big/object", len(data) - 3) as stream:
        assert stream.read() == data[-3:]
    with store.open("big/object") as stream:
        assert stream.read() == data


def test_readers_see_the_old_object_or_the_new_one_never_a_mix(store: ObjectStore) -> None:
    store.put("k", io.BytesIO(b"a" * 300_000))
    seen: set[bytes] = set()
    done = threading.Event()

    def read() -> None:
        while not done.is_set():
            with store.open("k") as stream:
                seen.add(bytes(set(stream.read())))

    reader = threading.Thread(target=read)
    reader.start()
    for _ in range(5):
        store.put("k", io.BytesIO(b"b" * 300_000))
        store.put("k", io.BytesIO(b"a" * 300_000))
    done.set()
    reader.join()
    assert seen <= {b"a", b"b"}
    assert seen


def test_a_write_past_its_limit_stores_nothing(store: ObjectStore) -> None:
    with pytest.raises(ObjectTooLarge):
        store.put("big", io.BytesIO(b"x" * 10_000), max_bytes=9_999)
    assert not store.exists("big")


@pytest.mark.parametrize("key", ["../escape", "/abs", "a//b", "a/../b", "", ".hidden"])
def test_keys_cannot_leave_the_store(store: ObjectStore, key: str) -> None:
    with pytest.raises(ValueError, match="invalid object key"):
        store.writer(key)
    with pytest.raises(ValueError, match="invalid object key"):
        store.open(key)


def test_the_settings_choose_the_backend(s3: S3Server, tmp_path: Path) -> None:
    assert isinstance(object_store(CatalogSettings(object_store_dir=tmp_path)), LocalDirectoryStore)
    chosen = object_store(s3.settings("chosen"))
    assert isinstance(chosen, S3Store)
    assert chosen.bucket == "chosen"
    assert "catalogtestsecret" not in repr(s3.settings("chosen"))  # the secret never reaches logs or reprs
    with pytest.raises(ValueError, match="S3_BUCKET"):
        object_store(CatalogSettings(object_store_backend="s3"))
