"""Object storage for files the platform keeps (supplier feeds, images): one interface, two backends.

The interface deals in keys and streams only, so the S3 backend fits behind it: a writer is an upload that becomes
visible on `commit`, a reader is a (ranged) GET. boto3 is an optional extra (`catalog-kit[s3]`), imported only by
the S3 backend.
"""

from catalog_kit.object_store.base import (
    COPY_CHUNK,
    ObjectNotFound,
    ObjectStore,
    ObjectTooLarge,
    ObjectWriter,
    StagedWriter,
    StoredObject,
    check_key,
    content_key,
    copy_into,
    sha256,
)
from catalog_kit.object_store.local import LocalDirectoryStore
from catalog_kit.settings import CatalogSettings

__all__ = [
    "COPY_CHUNK",
    "LocalDirectoryStore",
    "ObjectNotFound",
    "ObjectStore",
    "ObjectTooLarge",
    "ObjectWriter",
    "StagedWriter",
    "StoredObject",
    "check_key",
    "content_key",
    "copy_into",
    "object_store",
    "sha256",
]


def object_store(settings: CatalogSettings) -> ObjectStore:
    """The store the settings name: `OBJECT_STORE_BACKEND=local` (the default) or `s3`."""
    if settings.object_store_backend == "s3":
        from catalog_kit.object_store.s3 import S3Store  # boto3 is imported only where it is used

        return S3Store.from_settings(settings)
    return LocalDirectoryStore(settings.object_store_dir)
