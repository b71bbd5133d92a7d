"""The `/products` endpoints: create (optionally idempotent), read, list by cursor, merge-patch and delete."""

import logging
import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, BackgroundTasks, Body, Header, Response
from fastapi.responses import JSONResponse

from catalog_api.entrypoints.cursors import decode_cursor, encode_cursor
from catalog_api.entrypoints.deps import Attention, Catalog, DbSession, IdempotencyTtl, PageLimit, WriterKey
from catalog_api.entrypoints.problems import Problem
from catalog_api.service_layer import lineage
from catalog_api.service_layer.products import create_product as create
from catalog_core.domain.model import Product
from catalog_core.domain.products import ProductDraft
from catalog_http.openapi import REQUIRED_HEADERS, error_responses

log = logging.getLogger("catalog_api")

_IDEMPOTENCY_KEY = (
    "Any unique string (e.g. a UUID) per intended create: a repeat with the same key and body returns the first "
    "response (with `Idempotent-Replay: true`) for IDEMPOTENCY_TTL_HOURS; the same key with another body is a 422."
)

router = APIRouter(prefix="/products", tags=["products"])


@router.post("", status_code=201, responses=error_responses(401, 413, 422, {409: "SKU in use"}))
def create_product(
    draft: ProductDraft,
    catalog: Catalog,
    principal: WriterKey,
    ttl: IdempotencyTtl,
    idempotency_key: Annotated[str | None, Header(max_length=200, description=_IDEMPOTENCY_KEY)] = None,
) -> JSONResponse:
    """Create a product; with `Idempotency-Key`, a repeated request returns the first response."""
    key = f"{principal}:{idempotency_key}" if idempotency_key is not None else None
    created = create(catalog, draft, _created_headers, key, ttl)
    response = created.response
    if created.product is None:
        return JSONResponse(response.body, response.status_code, {**response.headers, "Idempotent-Replay": "true"})
    log.info("product created", extra={"product_id": str(created.product.id), "version": created.product.version})
    return JSONResponse(response.body, response.status_code, response.headers)


@router.get(
    "/{product_id}",
    responses={304: {"description": "If-None-Match names the current version"}, **error_responses(404, 422)},
)
def get_product(
    product_id: uuid.UUID,
    catalog: Catalog,
    attention: Attention,
    after_response: BackgroundTasks,
    if_none_match: Annotated[str | None, Header()] = None,
) -> Response:
    product = catalog.get(product_id)
    if attention is not None:  # someone looks at it now: if its enrichment waits, it jumps the queue
        after_response.add_task(attention.seen, str(product.id), product.version)
    if if_none_match is not None and str(product.version) in etags(if_none_match):
        return Response(status_code=304, headers=etag(product))
    return JSONResponse(product.snapshot(), headers=etag(product))


@router.get("", responses=error_responses(400, 422))
def list_products(
    catalog: Catalog,
    limit: PageLimit,
    brand: str | None = None,
    status: Literal["draft", "active", "archived"] | None = None,
    updated_since: datetime | None = None,
    cursor: str | None = None,
) -> dict[str, Any]:
    """Products ordered by id; follow `next_cursor` until it is null."""
    page = catalog.products.page(
        brand=brand,
        status=status,
        updated_since=updated_since,
        after=decode_cursor(cursor, uuid.UUID),
        limit=limit + 1,
    )
    items = page[:limit]
    return {
        "items": [p.snapshot() for p in items],
        "next_cursor": encode_cursor(str(items[-1].id)) if len(page) > limit else None,
    }


@router.get("/{product_id}/lineage", responses=error_responses(401, 404, 422))
def get_product_lineage(product_id: uuid.UUID, session: DbSession) -> dict[str, Any]:
    """When the current version was persisted, published, indexed (core fields, then derived fields), enriched
    and its media processed: each stage's state, time, the version its store holds and the time since persisted.
    `after` names the stage it follows from (indexed_fast and enriched run in parallel)."""
    return lineage.of_product(session, product_id)


@router.patch(
    "/{product_id}",
    responses=error_responses(401, 404, 412, 413, 422, 428, {409: "SKU in use"}),
    openapi_extra={REQUIRED_HEADERS: ["If-Match"]},
)
def patch_product(
    product_id: uuid.UUID,
    catalog: Catalog,
    patch: Annotated[dict[str, Any], Body(description="JSON Merge Patch (RFC 7396) of the core fields")],
    if_match: Annotated[str | None, Header(description="The ETag the change is based on")] = None,
) -> JSONResponse:
    """Change core fields; `If-Match` must carry the ETag the change was based on."""
    if if_match is None:
        raise Problem(
            428,
            "precondition-required",
            "If-Match required",
            "send the product's ETag in If-Match so a concurrent change is not overwritten",
        )
    with catalog.session.begin():
        product = catalog.patch(product_id, patch, etags(if_match))
    log.info("product updated", extra={"product_id": str(product.id), "version": product.version})
    return JSONResponse(product.snapshot(), headers=etag(product))


@router.delete("/{product_id}", status_code=204, responses=error_responses(401, 404, 412, 413, 422))
def delete_product(
    product_id: uuid.UUID,
    catalog: Catalog,
    if_match: Annotated[str | None, Header(description="Optional; if sent, the current ETag")] = None,
) -> Response:
    with catalog.session.begin():
        catalog.delete(product_id, etags(if_match) if if_match is not None else None)
    log.info("product deleted", extra={"product_id": str(product_id)})
    return Response(status_code=204)


def etag(product: Product) -> dict[str, str]:
    return {"ETag": f'"{product.version}"'}


def etags(header: str) -> set[str]:
    """The versions an If-Match / If-None-Match header names (`"3"`, `W/"3"` or `*`)."""
    return {tag.strip().removeprefix("W/").strip('"') for tag in header.split(",") if tag.strip()}


def _created_headers(product: Product) -> dict[str, str]:
    return {"Location": f"/products/{product.id}", **etag(product)}
