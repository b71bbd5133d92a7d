"""The local-directory backend: objects as files, made visible by an atomic rename."""

import os
import tempfile
from pathlib import Path
from typing import BinaryIO

from catalog_kit.object_store.base import ObjectNotFound, StagedWriter, StoredObject, check_key, copy_into


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


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
