"""The search API (`catalog-search`): answers from the search index; on its own port, default 127.0.0.1:8001.

`create_app` is the composition root: it wires settings, the read model's engine and the index into the app and
includes the routers. `catalog-search follow` is instead the index's one writer, which keeps it in step with the
read model; `catalog-search reindex` rebuilds the index from the read model.
"""

import argparse
import signal
import sys
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import uvicorn
from fastapi import Depends, FastAPI
from sqlalchemy import Engine
from sqlalchemy.orm import sessionmaker

from catalog_http import metrics
from catalog_http.access import PUBLIC, UndecidedAccess, check_decided
from catalog_http.nul_characters import refuse_nul_characters
from catalog_http.openapi import complete_openapi
from catalog_http.problems import install_problem_handlers
from catalog_http.startup import freeze_startup_objects
from catalog_indexer.adapters.read_model import FreshNotices, SearchDocuments
from catalog_indexer.adapters.search_index import FreshOverlay, SearchIndex
from catalog_indexer.adapters.search_metrics import watch_index
from catalog_indexer.entrypoints import deps, health, search
from catalog_indexer.entrypoints.access import ACCESS
from catalog_indexer.entrypoints.bootstrap import follow_index, fresh_products, index_follower
from catalog_indexer.settings import IndexerSettings
from catalog_kit.db import libpq_conninfo, make_engine
from catalog_kit.enrichment_requests import EnrichmentRequests
from catalog_kit.jsonlog import configure_logging
from catalog_kit.outbox import OutboxWriter

SOURCE = "/catalog/search"  # the `source` of the enrichment requests a search reports


def create_app(settings: IndexerSettings, engine: Engine | None = None) -> FastAPI:
    engine = engine or make_engine(settings.database_url, settings.db_pool_size)
    overlay = FreshOverlay(settings.search_fresh_max) if settings.search_fresh_max else None
    index = SearchIndex(settings.search_index_dir, cache_size=settings.search_result_cache, fresh=overlay)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        freeze_startup_objects()  # a full collection walking them held every search for 61-69 ms
        # The overlay's loop, a thread beside the requests: products changed interactively are searchable as soon
        # as the read model has them, before the index's next commit.
        stop = threading.Event()
        if overlay is not None:
            notices = FreshNotices(libpq_conninfo(settings.database_url))
            loop = fresh_products(settings, SearchDocuments(engine), notices, overlay, index)
            follow = threading.Thread(target=loop.run, args=(stop,), name="fresh-products", daemon=True)
            follow.start()
        yield
        stop.set()

    app = FastAPI(
        title="Catalog search API",
        version="1.0.0",
        description="Typo-tolerant product search with facets over the search index the indexer keeps.",
        dependencies=[Depends(refuse_nul_characters)],
        lifespan=lifespan,
    )
    reports = (
        EnrichmentRequests(sessionmaker(engine), OutboxWriter(SOURCE, settings.public_base_url), "searched")
        if settings.search_report_pending
        else None
    )
    deps.install(app, deps.Wiring(settings, engine, index, reports))
    watch_index(lambda: health.index_lag(engine, index))
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


def reindex(settings: IndexerSettings) -> None:
    """Build a new generation of the index from the whole read model, then switch searches (and the follower)
    over to it; the old one keeps answering meanwhile."""
    engine = make_engine(settings.database_url, 1)
    follower = index_follower(settings, SearchDocuments(engine))

    def progress(position: int, target: int, seconds: float) -> None:
        share = position / target if target else 1.0
        print(f"  {min(share, 1.0):6.1%}  change {position:,} of {target:,}  {seconds:6.1f} s", flush=True)

    writer = follower.rebuild(progress)
    print(f"search index rebuilt: {writer.path}", flush=True)
    engine.dispose()


def follow(settings: IndexerSettings) -> None:
    """Write the search index from the read model until SIGTERM or SIGINT."""
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    follow_index(settings, stop)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="catalog-search",
        description="The search API (serve), the search index's writer (follow), or a rebuild of the index (reindex).",
    )
    parser.add_argument("command", nargs="?", choices=("serve", "follow", "reindex"), default="serve")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    settings = IndexerSettings()
    configure_logging("search-index" if args.command == "follow" else "search-api", settings.log_level)
    if args.command != "serve":
        (follow if args.command == "follow" else reindex)(settings)
        return
    uvicorn.run(
        create_app(settings), host=settings.search_host, port=settings.search_port, log_config=None, access_log=False
    )
