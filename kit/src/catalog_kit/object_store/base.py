"""The object-store interface both backends implement: keys, staged writers, copying."""

import hashlib
import re
from dataclasses import dataclass
from typing import BinaryIO, Protocol, Self

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
