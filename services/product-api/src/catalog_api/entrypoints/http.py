"""The product API's composition root: `create_app` wires settings, database, outbox and object store into the
app and includes the routers; `main` is the `catalog-api` command."""

import logging
import secrets
import tempfile
from pathlib import Path

import uvicorn
from fastapi import Depends, FastAPI
from sqlalchemy.orm import Session, sessionmaker

from catalog_api.entrypoints import (
    console,
    contracts,
    dead_letters,
    deps,
    health,
    import_streams,
    imports,
    media,
    problems,
    products,
    webhooks,
)
from catalog_api.entrypoints.access import ACCESS
from catalog_api.entrypoints.console_session import ConsoleSessions
from catalog_api.service_layer.enrichment_attention import ViewedProducts, pending_in
from catalog_api.service_layer.import_progress import StreamSlots
from catalog_api.settings import ApiSettings
from catalog_http import metrics
from catalog_http.access import check_decided
from catalog_http.body_limit import BodySizeLimit
from catalog_http.nul_characters import refuse_nul_characters
from catalog_http.openapi import complete_openapi
from catalog_http.startup import freeze_startup_objects
from catalog_kit import tracing
from catalog_kit.db import make_engine, make_session_factory
from catalog_kit.enrichment_requests import EnrichmentRequests
from catalog_kit.jsonlog import configure_logging
from catalog_kit.object_store import LocalDirectoryStore, object_store
from catalog_kit.outbox import OutboxWriter

log = logging.getLogger("catalog_api")
SOURCE = "/catalog/product-api"
# Image uploads are staged here, on local disk, until they are confirmed and moved to the object store.
STAGING_DIR = Path(tempfile.gettempdir()) / "catalog-image-uploads"


def create_app(settings: ApiSettings, sessions: sessionmaker[Session] | None = None) -> FastAPI:
    """The API wired to the catalog database; `sessions` may be given by tests.

    Refuses to build when `API_KEYS` cannot be read or an operation has no entry in the access table.
    """
    settings.env_keys()  # a typo in a scope fails the start, not every request
    app = FastAPI(
        title="Catalog product API",
        version="1.0.0",
        description="Products with their variants. Reading the catalog is public; writes and import jobs need "
        "`Authorization: Bearer <key>` with a key that carries the operation's scope.",
        # Authorisation first: a caller without the scope learns nothing about its input.
        dependencies=[Depends(deps.authorize), Depends(refuse_nul_characters)],
    )
    sessions = sessions or make_session_factory(make_engine(settings.database_url, settings.db_pool_size))
    outbox = OutboxWriter(SOURCE, settings.public_base_url)
    deps.install(
        app,
        deps.Wiring(
            settings=settings,
            sessions=sessions,
            outbox=outbox,
            store=object_store(settings),
            staging=LocalDirectoryStore(STAGING_DIR),
            console=ConsoleSessions(
                settings.console_secret.get_secret_value() or secrets.token_urlsafe(32),
                settings.console_session_hours * 3600,
            ),
            streams=StreamSlots(settings.import_events_max_streams),
            attention=ViewedProducts(EnrichmentRequests(sessions, outbox, "viewed"), pending_in(sessions))
            if settings.views_report_pending
            else None,
        ),
    )
    app.add_middleware(
        BodySizeLimit,
        max_bytes=settings.max_body_bytes,
        streamed=(*imports.UPLOAD_PATHS, *media.IMAGE_UPLOAD_PATHS),
    )
    app.add_middleware(metrics.RequestMetrics, service="product-api")  # outermost: every answer counts
    problems.install(app)
    console.install(app)
    complete_openapi(app, query_maximums={"limit": settings.page_size_max}, access=ACCESS)
    for router in (
        products.router,
        health.router,
        imports.router,
        import_streams.router,
        media.router,
        contracts.router,
        metrics.router,
        dead_letters.router,
        console.router,
    ):
        app.include_router(router)
    app.include_router(webhooks.router)
    check_decided(app, ACCESS)
    if tracing.enabled():
        from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

        # A server span per request (continuing the caller's traceparent); the outbox rows a request writes carry
        # its context. ASGI send/receive spans add nothing but volume; probes are not traced.
        FastAPIInstrumentor.instrument_app(app, excluded_urls="/healthz,/readyz", exclude_spans=["receive", "send"])
    contracts.prepare(settings.public_base_url)  # built now rather than on the first request
    return app


def main() -> None:
    settings = ApiSettings()
    configure_logging("product-api", settings.log_level)
    tracing.configure("product-api")
    if not settings.env_keys():
        log.info("no API_KEYS: only keys stored with catalog-keys are accepted")
    app = create_app(settings)
    freeze_startup_objects()
    uvicorn.run(
        app,
        host=settings.api_host,
        port=settings.api_port,
        log_config=None,
        access_log=False,
    )
