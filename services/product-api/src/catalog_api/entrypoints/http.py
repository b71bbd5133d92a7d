"""The product API: FastAPI app factory and the `catalog-api` command."""

import hashlib
import logging
import uuid
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

import uvicorn
from fastapi import Body, Depends, FastAPI, Header, Query, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from catalog_api.adapters.idempotency import IdempotencyStore, StoredResponse
from catalog_api.entrypoints import problems
from catalog_api.entrypoints.auth import bearer_writer
from catalog_api.entrypoints.contracts import contracts_router
from catalog_api.entrypoints.cursors import decode_cursor, encode_cursor
from catalog_api.entrypoints.imports import UPLOAD_PATHS, imports_router
from catalog_api.entrypoints.media import IMAGE_UPLOAD_PATHS, media_router
from catalog_api.entrypoints.problems import Problem
from catalog_api.settings import ApiSettings
from catalog_core.domain.model import Product
from catalog_core.domain.products import ProductDraft
from catalog_core.service_layer.catalog import ProductCatalog
from catalog_http.body_limit import BodySizeLimit
from catalog_http.nul_characters import refuse_nul_characters
from catalog_http.openapi import REQUIRED_HEADERS, complete_openapi, error_responses
from catalog_kit.db import make_engine, make_session_factory, session_per_request
from catalog_kit.envelope import valid_traceparent
from catalog_kit.jsonlog import configure_logging
from catalog_kit.object_store import object_store
from catalog_kit.outbox import OutboxWriter

log = logging.getLogger("catalog_api")
SOURCE = "/catalog/product-api"
_IDEMPOTENCY_KEY = (
    "Any unique string (e.g. a UUID) per intended create: a repeat with the same key and body returns the first "
    "response (with `Idempotent-Replay: true`) for IDEMPOTENCY_TTL_HOURS; the same key with another body is a 422."
)


def create_app(settings: ApiSettings, sessions: sessionmaker[Session] | None = None) -> FastAPI:
    """The API wired to the catalog database; `sessions` may be given by tests."""
    sessions = sessions or make_session_factory(make_engine(settings.database_url, settings.db_pool_size))
    outbox = OutboxWriter(SOURCE, settings.public_base_url)
    write_keys = settings.write_keys()
    idempotency_ttl = timedelta(hours=settings.idempotency_ttl_hours)

    app = FastAPI(
        title="Catalog product API",
        version="1.0.0",
        description="Products with their variants. Writes need `Authorization: Bearer <key>`.",
        dependencies=[Depends(refuse_nul_characters)],
    )
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes, streamed=(*UPLOAD_PATHS, *IMAGE_UPLOAD_PATHS))
    problems.install(app)
    complete_openapi(app)

    db = session_per_request(sessions)

    writer = bearer_writer(write_keys)

    def catalog(request: Request, session: Annotated[Session, Depends(db)]) -> ProductCatalog:
        return ProductCatalog(session, outbox, valid_traceparent(request.headers.get("traceparent")))

    Catalog = Annotated[ProductCatalog, Depends(catalog)]
    Writer = Annotated[str, Depends(writer)]

    @app.post(
        "/products",
        status_code=201,
        tags=["products"],
        responses=error_responses(401, 413, 422, {409: "SKU in use"}),
    )
    def create_product(
        draft: ProductDraft,
        catalog: Catalog,
        principal: Writer,
        idempotency_key: Annotated[str | None, Header(max_length=200, description=_IDEMPOTENCY_KEY)] = None,
    ) -> JSONResponse:
        """Create a product; with `Idempotency-Key`, a repeated request returns the first response."""
        with catalog.session.begin():
            store = IdempotencyStore(catalog.session, idempotency_ttl)
            key = f"{principal}:{idempotency_key}"
            if idempotency_key is not None:
                stored = store.claim(key, hashlib.sha256(draft.model_dump_json().encode()).hexdigest())
                if stored is not None:
                    return JSONResponse(
                        stored.body, stored.status_code, {**stored.headers, "Idempotent-Replay": "true"}
                    )
            product, snapshot = catalog.create(draft)
            headers = {"Location": f"/products/{product.id}", **_etag(product)}
            if idempotency_key is not None:
                store.complete(key, StoredResponse(201, snapshot, headers))
        log.info("product created", extra={"product_id": str(product.id), "version": product.version})
        return JSONResponse(snapshot, 201, headers)

    @app.get(
        "/products/{product_id}",
        tags=["products"],
        responses={304: {"description": "If-None-Match names the current version"}, **error_responses(404, 422)},
    )
    def get_product(
        product_id: uuid.UUID, catalog: Catalog, if_none_match: Annotated[str | None, Header()] = None
    ) -> Response:
        product = catalog.get(product_id)
        if if_none_match is not None and str(product.version) in _etags(if_none_match):
            return Response(status_code=304, headers=_etag(product))
        return JSONResponse(product.snapshot(), headers=_etag(product))

    @app.get("/products", tags=["products"], responses=error_responses(400, 422))
    def list_products(
        catalog: Catalog,
        brand: str | None = None,
        status: Literal["draft", "active", "archived"] | None = None,
        updated_since: datetime | None = None,
        cursor: str | None = None,
        limit: Annotated[int, Query(ge=1, le=settings.page_size_max)] = 50,
    ) -> dict[str, Any]:
        """Products ordered by id; follow `next_cursor` until it is null."""
        page = catalog.products.page(
            brand=brand,
            status=status,
            updated_since=updated_since,
            after=decode_cursor(cursor, uuid.UUID),
            limit=limit + 1,
        )
        more = len(page) > limit
        items = page[:limit]
        return {
            "items": [p.snapshot() for p in items],
            "next_cursor": encode_cursor(str(items[-1].id)) if more else None,
        }

    @app.patch(
        "/products/{product_id}",
        tags=["products"],
        responses=error_responses(401, 404, 412, 413, 422, 428, {409: "SKU in use"}),
        openapi_extra={REQUIRED_HEADERS: ["If-Match"]},
    )
    def patch_product(
        product_id: uuid.UUID,
        catalog: Catalog,
        _: Writer,
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
            product = catalog.patch(product_id, patch, _etags(if_match))
        log.info("product updated", extra={"product_id": str(product.id), "version": product.version})
        return JSONResponse(product.snapshot(), headers=_etag(product))

    @app.delete(
        "/products/{product_id}", status_code=204, tags=["products"], responses=error_responses(401, 404, 412, 413, 422)
    )
    def delete_product(
        product_id: uuid.UUID,
        catalog: Catalog,
        _: Writer,
        if_match: Annotated[str | None, Header(description="Optional; if sent, the current ETag")] = None,
    ) -> Response:
        with catalog.session.begin():
            catalog.delete(product_id, _etags(if_match) if if_match is not None else None)
        log.info("product deleted", extra={"product_id": str(product_id)})
        return Response(status_code=204)

    @app.get("/healthz", tags=["operations"])
    def healthz() -> dict[str, str]:
        """The process is up."""
        return {"status": "ok"}

    @app.get("/readyz", tags=["operations"], responses=error_responses(503))
    def readyz(session: Annotated[Session, Depends(db)]) -> dict[str, str]:
        """The process can serve: its database answers."""
        try:
            session.execute(text("SELECT 1"))
        except Exception as exc:
            raise Problem(503, "not-ready", "Database unreachable", type(exc).__name__) from exc
        return {"status": "ready"}

    store = object_store(settings)
    app.include_router(imports_router(settings, sessions, outbox, writer, store))
    app.include_router(media_router(settings, sessions, outbox, writer, store))
    app.include_router(contracts_router(settings))
    return app


def _etag(product: Product) -> dict[str, str]:
    return {"ETag": f'"{product.version}"'}


def _etags(header: str) -> set[str]:
    """The versions an If-Match / If-None-Match header names (`"3"`, `W/"3"` or `*`)."""
    return {tag.strip().removeprefix("W/").strip('"') for tag in header.split(",") if tag.strip()}


def main() -> None:
    settings = ApiSettings()
    configure_logging("product-api", settings.log_level)
    if not settings.write_keys():
        log.warning("no API_KEYS configured: every write will be refused with 401")
    uvicorn.run(
        create_app(settings),
        host=settings.api_host,
        port=settings.api_port,
        log_config=None,
        access_log=False,
    )
