"""Uploaded product images: confirm a staged upload is an accepted image, store it, and add it to its product."""

import uuid
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from catalog_api.domain.images import IMAGE_TYPES, SNIFF_BYTES, upload_problem
from catalog_core.service_layer.catalog import ProductCatalog
from catalog_kit.object_store import ObjectStore, StoredObject, content_key
from catalog_kit.outbox import OutboxWriter

ORIGINALS = "originals"


class NotAnImage(Exception):
    """The upload's declared type and its bytes are not one accepted image type (the message says why)."""


def store_original(staging: ObjectStore, staged: StoredObject, content_type: str | None, store: ObjectStore) -> str:
    """Check the staged upload is the accepted image its `content_type` declares and copy it to its
    content-addressed key in `store` (equal bytes are stored once); that key."""
    with staging.open(staged.key) as head:
        problem = upload_problem(content_type, head.read(SNIFF_BYTES))
    if problem:
        raise NotAnImage(problem)
    media_type = (content_type or "").split(";")[0].strip().lower()
    key = content_key(staged.sha256, ORIGINALS, IMAGE_TYPES[media_type])
    if not store.exists(key):
        with staging.open(staged.key) as stream:
            store.put(key, stream)
    return key


def check_product(sessions: sessionmaker[Session], outbox: OutboxWriter, product_id: uuid.UUID) -> None:
    """Raise `ProductNotFound` unless the product exists."""
    with sessions() as session:
        ProductCatalog(session, outbox).get(product_id)


def add_image(
    sessions: sessionmaker[Session], outbox: OutboxWriter, product_id: uuid.UUID, url: str, traceparent: str | None
) -> dict[str, Any]:
    """Append `url` to the product's images in a transaction of its own; the new version's snapshot."""
    with sessions() as session, session.begin():
        return ProductCatalog(session, outbox, traceparent).add_image(product_id, url).snapshot()
