"""Product images: upload one (`POST /products/{id}/images`), see their processing, and serve stored media."""

import logging
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Header, Request, Response
from fastapi.responses import FileResponse, JSONResponse, StreamingResponse
from starlette.concurrency import run_in_threadpool

from catalog_api.adapters.media import processed_images
from catalog_api.domain.images import IMAGE_TYPES
from catalog_api.entrypoints.deps import Catalog, Outbox, Sessions, Settings, Staging, Store, Traceparent, WriterKey
from catalog_api.entrypoints.problems import Problem
from catalog_api.entrypoints.uploads import FILE_FIELD, receive_upload
from catalog_api.service_layer.images import ORIGINALS, NotAnImage, add_image, check_product, store_original
from catalog_http.openapi import error_responses
from catalog_kit.object_store import COPY_CHUNK, LocalDirectoryStore, ObjectNotFound, check_key

log = logging.getLogger("catalog_api.media")

# Streamed to storage under MAX_IMAGE_BYTES rather than buffered under MAX_BODY_BYTES (see BodySizeLimit).
IMAGE_UPLOAD_PATHS = (r"/products/[^/]+/images",)
# Only media is public: other objects (supplier feeds) share the store but are never served.
PUBLIC_PREFIXES = (f"{ORIGINALS}/", "media/")
# Keys are content-addressed: the bytes behind a URL never change, so caches may keep them for good.
IMMUTABLE = "public, max-age=31536000, immutable"
_MEDIA_TYPES = {suffix: media_type for media_type, suffix in IMAGE_TYPES.items()}
_MEDIA_CONTENT = {
    media_type: {"schema": {"type": "string", "format": "binary"}}
    for media_type in (*IMAGE_TYPES, "application/octet-stream")
}
_FORM = {
    "type": "object",
    "required": ["file"],
    "properties": {"file": {"type": "string", "format": "binary", "description": "A JPEG, PNG or WebP image."}},
}


router = APIRouter()


@router.post(
    "/products/{product_id}/images",
    status_code=201,
    tags=["products"],
    openapi_extra={"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": _FORM}}}},
    responses=error_responses(
        401,
        {
            404: "Unknown product",
            413: "Image larger than MAX_IMAGE_BYTES",
            415: "Not multipart/form-data, or not a JPEG, PNG or WebP",
            422: "No file, or the product would have too many images",
        },
    ),
)
async def upload_image(
    product_id: uuid.UUID,
    request: Request,
    principal: WriterKey,
    settings: Settings,
    sessions: Sessions,
    outbox: Outbox,
    store: Store,
    staging: Staging,
    traceparent: Traceparent,
) -> JSONResponse:
    """Add an image to a product (multipart `file`: JPEG, PNG or WebP).

    The original is stored under a content-addressed key and appended to the product's `images` as its public
    URL (a new version and `product.updated`); the media service then makes its derivatives.
    """
    await run_in_threadpool(check_product, sessions, outbox, product_id)  # 404 before reading a byte of the body
    staged = await receive_upload(request, staging, f"uploads/{uuid.uuid4()}", settings.max_image_bytes, what="image")
    try:
        key = await run_in_threadpool(store_original, staging, staged.stored, staged.content_type, store)
    except NotAnImage as exc:
        raise Problem(
            415,
            "unsupported-media-type",
            "Not an accepted image",
            str(exc),
            [{"field": FILE_FIELD, "message": str(exc), "code": "image_type"}],
        ) from exc
    finally:
        staging.delete(staged.stored.key)
    url = f"{settings.media_base_url.rstrip('/')}/{key}"
    snapshot = await run_in_threadpool(add_image, sessions, outbox, product_id, url, traceparent)
    log.info(
        "image uploaded",
        extra={"product_id": str(product_id), "key": key, "bytes": staged.stored.size, "principal": principal},
    )
    return JSONResponse(
        {"url": url, "key": key, "sha256": staged.stored.sha256, "bytes": staged.stored.size, "product": snapshot},
        201,
        {"Location": url, "ETag": f'"{snapshot["version"]}"'},
    )


@router.get(
    "/products/{product_id}/images", tags=["products"], responses=error_responses(422, {404: "Unknown product"})
)
def product_images(product_id: uuid.UUID, catalog: Catalog, settings: Settings) -> dict[str, Any]:
    """The product's images with their processing state: `pending`, `processed` (dimensions, dominant colour,
    derivative URLs) or `failed` with a coarse reason — `blocked_address`, `unreachable`, `timeout`, `too_large`,
    `not_an_image` — and no hash: the exact cause stays in the media worker's log."""
    product = catalog.get(product_id)
    rows = processed_images(catalog.session, product_id)
    return {
        "id": str(product_id),
        "version": product.version,
        "images": [_image_view(url, rows.get(url), settings.media_base_url) for url in product.draft.images],
    }


@router.get(
    "/media/{key:path}",
    tags=["media"],
    response_class=Response,  # not JSON: the stored bytes, with the media types declared below
    responses={
        200: {"description": "The object's bytes", "content": _MEDIA_CONTENT},
        304: {"description": "If-None-Match names this object"},
        **error_responses(422, {404: "No such media object"}),
    },
)
def media_object(key: str, store: Store, if_none_match: Annotated[str | None, Header()] = None) -> Response:
    """A stored image or derivative, by key; keys are content-addressed, so responses are cacheable forever."""
    try:
        check_key(key)
    except ValueError:
        raise _not_found(key) from None
    if not key.startswith(PUBLIC_PREFIXES):
        raise _not_found(key)
    headers = {
        "Cache-Control": IMMUTABLE,
        "ETag": f'"{key.rsplit("/", 1)[-1]}"',
        "X-Content-Type-Options": "nosniff",
    }
    if if_none_match is not None and headers["ETag"] in (t.strip() for t in if_none_match.split(",")):
        return Response(status_code=304, headers=headers)
    media_type = _MEDIA_TYPES.get(Path(key).suffix, "application/octet-stream")
    if isinstance(store, LocalDirectoryStore):
        path = store.path(key)
        if not path.is_file():
            raise _not_found(key)
        return FileResponse(path, media_type=media_type, headers=headers)
    try:
        stream = store.open(key)
    except ObjectNotFound:
        raise _not_found(key) from None

    def chunks() -> Iterator[bytes]:
        with stream:
            while chunk := stream.read(COPY_CHUNK):
                yield chunk

    return StreamingResponse(chunks(), media_type=media_type, headers=headers)


def _image_view(url: str, row: dict[str, Any] | None, media_base_url: str) -> dict[str, Any]:
    if row is None:
        return {"url": url, "status": "pending"}
    base = media_base_url.rstrip("/")
    return {
        "url": url,
        "status": row["status"],
        "reason": row["reason"],
        "sha256": row["sha256"],
        "width": row["width"],
        "height": row["height"],
        "dominant_color": row["dominant_color"],
        "derivatives": [
            {k: d[k] for k in ("size", "format", "width", "height")} | {"url": f"{base}/{d['key']}"}
            for d in row["derivatives"]
        ],
        "version": row["computed_from_version"],
    }


def _not_found(key: str) -> Problem:
    return Problem(404, "not-found", "No such media object", key[:200])
