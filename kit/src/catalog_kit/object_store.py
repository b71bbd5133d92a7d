"""Object storage for files the platform keeps (supplier feeds, images): a protocol and a local-directory backend.

The interface deals in keys and streams only, so the S3 backend (`object_store_s3`) fits behind it: a writer is
an upload that becomes visible on `commit`, a reader is a (ranged) GET.
"""

import hashlib
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol, Self

from catalog_kit.settings import CatalogSettings

# Keys are relative paths of plain segments: no "..", no absolute paths, nothing a backend could misread.
_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)*$")
COPY_CHUNK = 1024 * 1024


class ObjectNotFound(LookupError):
    """No object is stored under the key."""


class ObjectTooLarge(Exception):
    """A write went past its size limit; nothing was stored."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"objects are limited to {limit} bytes here")
        self.limit = limit


@dataclass(frozen=True)
class StoredObject:
    """What a committed write stored: where, how many bytes, and their SHA-256 (hex)."""

    key: str
    size: int
    sha256: str


class ObjectWriter(Protocol):
    """An object being written: invisible until `commit`, gone after `abort` (or a crash)."""

    def write(self, data: bytes) -> None: ...

    def commit(self) -> StoredObject: ...

    def abort(self) -> None: ...


class ObjectStore(Protocol):
    """Where objects live, by key."""

    def writer(self, key: str, *, max_bytes: int | None = None) -> ObjectWriter:
        """Start writing `key`; `ObjectTooLarge` from `write` once more than `max_bytes` arrived."""
        ...

    def put(self, key: str, stream: BinaryIO, *, max_bytes: int | None = None) -> StoredObject:
        """Store everything `stream` yields under `key`, atomically."""
        ...

    def open(self, key: str, start: int = 0) -> BinaryIO:
        """A binary stream of the object from byte `start`; the caller closes it."""
        ...

    def exists(self, key: str) -> bool: ...

    def delete(self, key: str) -> None:
        """Remove the object; a missing object is not an error."""
        ...


def sha256(stream: BinaryIO) -> str:
    """The SHA-256 (hex) of everything `stream` yields, read a chunk at a time."""
    digest = hashlib.sha256()
    while chunk := stream.read(COPY_CHUNK):
        digest.update(chunk)
    return digest.hexdigest()


def content_key(digest: str, prefix: str = "sha256", suffix: str = "") -> str:
    """A content-addressed key (`sha256/ab/abcd….jpg`): equal content, equal key; the fan-out keeps dirs small."""
    if not re.fullmatch(r"[0-9a-f]{64}", digest):
        raise ValueError(f"not a SHA-256 hex digest: {digest!r}")
    return f"{prefix}/{digest[:2]}/{digest}{suffix}"


def check_key(key: str) -> str:
    if not _KEY.match(key) or len(key) > 512:
        raise ValueError(f"invalid object key {key!r}")
    return key


class StagedWriter:
    """Counts, hashes and stages an object's bytes until `commit`; each backend says how a commit publishes them."""

    def __init__(self, key: str, max_bytes: int | None, staging: BinaryIO) -> None:
        self.key = key
        self.max_bytes = max_bytes
        self.size = 0
        self._digest = hashlib.sha256()
        self._file = staging
        self._done = False

    def write(self, data: bytes) -> None:
        self.size += len(data)
        if self.max_bytes is not None and self.size > self.max_bytes:
            self.abort()
            raise ObjectTooLarge(self.max_bytes)
        self._digest.update(data)
        self._file.write(data)

    def stored(self) -> StoredObject:
        return StoredObject(self.key, self.size, self._digest.hexdigest())

    def abort(self) -> None:
        if not self._done:
            self._done = True
            self._file.close()
            self._discard()

    def commit(self) -> StoredObject:
        """Make the object visible whole, under its key."""
        raise NotImplementedError

    def _discard(self) -> None:
        """Remove what staging left behind (nothing by default)."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.abort()  # a writer left without commit stores nothing


def copy_into(writer: StagedWriter, stream: BinaryIO) -> StoredObject:
    """Copy `stream` into `writer` a chunk at a time and commit; nothing is stored if anything fails."""
    with writer:
        while chunk := stream.read(COPY_CHUNK):
            writer.write(chunk)
        return writer.commit()


class _LocalWriter(StagedWriter):
    """Writes to a temporary file next to the target; `commit` fsyncs and renames it into place."""

    def __init__(self, target: Path, key: str, max_bytes: int | None) -> None:
        self.target = target
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
        self._temp = Path(name)
        super().__init__(key, max_bytes, os.fdopen(fd, "wb"))

    def commit(self) -> StoredObject:
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        os.replace(self._temp, self.target)  # atomic: readers see the old object or the whole new one
        _fsync_dir(self.target.parent)  # the rename itself survives a crash
        self._done = True
        return self.stored()

    def _discard(self) -> None:
        self._temp.unlink(missing_ok=True)


class LocalDirectoryStore:
    """Objects as files under `root`; a key is a relative path. Half-written objects are never visible."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()

    def path(self, key: str) -> Path:
        return self.root / check_key(key)

    def writer(self, key: str, *, max_bytes: int | None = None) -> _LocalWriter:
        return _LocalWriter(self.path(key), key, max_bytes)

    def put(self, key: str, stream: BinaryIO, *, max_bytes: int | None = None) -> StoredObject:
        return copy_into(self.writer(key, max_bytes=max_bytes), stream)

    def open(self, key: str, start: int = 0) -> BinaryIO:
        try:
            stream = self.path(key).open("rb")
        except FileNotFoundError as exc:
            raise ObjectNotFound(key) from exc
        stream.seek(start)
        return stream

    def exists(self, key: str) -> bool:
        return self.path(key).is_file()

    def delete(self, key: str) -> None:
        self.path(key).unlink(missing_ok=True)


def object_store(settings: CatalogSettings) -> ObjectStore:
    """The store the settings name: `OBJECT_STORE_BACKEND=local` (the default) or `s3`."""
    if settings.object_store_backend == "s3":
        from catalog_kit.object_store_s3 import S3Store  # boto3 is imported only where it is used

        return S3Store.from_settings(settings)
    return LocalDirectoryStore(settings.object_store_dir)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
