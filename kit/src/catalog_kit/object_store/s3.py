"""The object store over the S3 API (AWS S3 or any compatible server), behind the same `ObjectStore` protocol.

A write is spooled locally (memory, then a temporary file) and sent to its final key only on `commit`: an S3 PUT
or a completed multipart upload becomes visible whole or not at all, so no reader ever sees half an object.
"""

import io
import tempfile
from typing import Any, BinaryIO, cast

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from catalog_kit.object_store.base import COPY_CHUNK, ObjectNotFound, StagedWriter, StoredObject, check_key, copy_into
from catalog_kit.settings import CatalogSettings

_SPOOL_IN_MEMORY = 8 * 1024 * 1024  # larger objects spill to a temporary file while being written
_MISSING = {"404", "NoSuchKey", "NotFound"}


class _S3Writer(StagedWriter):
    """Collects the object locally; `commit` uploads it to the final key (multipart above a threshold)."""

    def __init__(self, store: "S3Store", key: str, max_bytes: int | None) -> None:
        self.store = store
        spool = tempfile.SpooledTemporaryFile(max_size=_SPOOL_IN_MEMORY)  # noqa: SIM115 - closed by commit/abort
        super().__init__(key, max_bytes, cast(BinaryIO, spool))

    def commit(self) -> StoredObject:
        self._file.seek(0)
        try:
            self.store.client.upload_fileobj(self._file, self.store.bucket, self.key)
        finally:
            self.abort()
        return self.stored()


class _Body(io.RawIOBase):
    """A GET response body as a raw binary stream (so it can be buffered and used as a `BinaryIO`)."""

    def __init__(self, body: Any) -> None:
        self._body = body

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._body.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        self._body.close()
        super().close()


class S3Store:
    """Objects in one bucket; a key is the object key. Credentials come from the settings, never from logs."""

    def __init__(self, client: Any, bucket: str) -> None:
        self.client = client
        self.bucket = bucket

    @classmethod
    def from_settings(cls, settings: CatalogSettings) -> "S3Store":
        if not settings.s3_bucket:
            raise ValueError("OBJECT_STORE_BACKEND=s3 needs S3_BUCKET")
        client = boto3.client(
            "s3",
            endpoint_url=settings.s3_endpoint_url or None,
            region_name=settings.s3_region,
            aws_access_key_id=settings.s3_access_key_id or None,
            aws_secret_access_key=settings.s3_secret_access_key.get_secret_value() or None,
            config=Config(
                connect_timeout=5,
                read_timeout=30,
                retries={"max_attempts": 4, "mode": "standard"},
                # Path-style works with every S3-compatible server; virtual hosts need DNS for each bucket.
                s3={"addressing_style": "path"},
                max_pool_connections=20,
                # Checksums only where the API requires them: S3-compatible servers differ in what they send
                # (some return the whole object's checksum with a ranged GET, which then never matches).
                request_checksum_calculation="when_required",
                response_checksum_validation="when_required",
            ),
        )
        return cls(client, settings.s3_bucket)

    def ensure_bucket(self) -> None:
        """Create the bucket if it does not exist (deployments usually provision it; tests and `make run` do not)."""
        try:
            self.client.head_bucket(Bucket=self.bucket)
        except ClientError as exc:
            if _code(exc) not in _MISSING:
                raise
            self.client.create_bucket(Bucket=self.bucket)

    def writer(self, key: str, *, max_bytes: int | None = None) -> _S3Writer:
        return _S3Writer(self, check_key(key), max_bytes)

    def put(self, key: str, stream: BinaryIO, *, max_bytes: int | None = None) -> StoredObject:
        return copy_into(self.writer(key, max_bytes=max_bytes), stream)

    def open(self, key: str, start: int = 0) -> BinaryIO:
        request: dict[str, Any] = {"Bucket": self.bucket, "Key": check_key(key)}
        if start:
            request["Range"] = f"bytes={start}-"
        try:
            response = self.client.get_object(**request)
        except ClientError as exc:
            if _code(exc) in _MISSING:
                raise ObjectNotFound(key) from exc
            if _code(exc) == "InvalidRange":  # `start` at or past the end: nothing left to read
                return io.BytesIO()
            raise
        return io.BufferedReader(_Body(response["Body"]), COPY_CHUNK)

    def exists(self, key: str) -> bool:
        try:
            self.client.head_object(Bucket=self.bucket, Key=check_key(key))
        except ClientError as exc:
            if _code(exc) in _MISSING:
                return False
            raise
        return True

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=check_key(key))  # S3 deletes of missing keys succeed


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))
