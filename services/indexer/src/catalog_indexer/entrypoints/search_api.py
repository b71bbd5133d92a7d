"""The search API (`catalog-search`): reads the indexer's read model; on its own port, default 127.0.0.1:8001.

`create_app` is the composition root: it wires settings and the engine into the app and includes the routers.
"""

import uvicorn
from fastapi import Depends, FastAPI
from sqlalchemy import Engine
from sqlalchemy.orm import sessionmaker

from catalog_http import metrics
from catalog_http.access import PUBLIC, UndecidedAccess, check_decided
from catalog_http.nul_characters import refuse_nul_characters
from catalog_http.openapi import complete_openapi
from catalog_http.problems import install_problem_handlers
from catalog_indexer.entrypoints import deps, health, search
from catalog_indexer.entrypoints.access import ACCESS
from catalog_indexer.settings import IndexerSettings
from catalog_kit.db import make_engine
from catalog_kit.enrichment_requests import EnrichmentRequests
from catalog_kit.jsonlog import configure_logging
from catalog_kit.outbox import OutboxWriter

SOURCE = "/catalog/search"  # the `source` of the enrichment requests a search reports


def create_app(settings: IndexerSettings, engine: Engine | None = None) -> FastAPI:
    app = FastAPI(
        title="Catalog search API",
        version="1.0.0",
        description="Full-text, typo-tolerant product search over the indexer's read model.",
        dependencies=[Depends(refuse_nul_characters)],
    )
    engine = engine or make_engine(settings.database_url, settings.db_pool_size)
    reports = (
        EnrichmentRequests(sessionmaker(engine), OutboxWriter(SOURCE, settings.public_base_url), "searched")
        if settings.search_report_pending
        else None
    )
    deps.install(app, deps.Wiring(settings, engine, reports))
    app.add_middleware(metrics.RequestMetrics, service="search-api")
    install_problem_handlers(app)
    complete_openapi(app, query_maximums={"limit": settings.search_page_size_max}, access=ACCESS)
    app.include_router(search.router)
    app.include_router(health.router)
    app.include_router(metrics.router)
    check_decided(app, ACCESS)
    if any(need != PUBLIC for need in ACCESS.needs.values()):
        raise UndecidedAccess("the search API authenticates no one: every operation in its access table is public")
    return app


def main() -> None:
    settings = IndexerSettings()
    configure_logging("search-api", settings.log_level)
    uvicorn.run(
        create_app(settings), host=settings.search_host, port=settings.search_port, log_config=None, access_log=False
    )
