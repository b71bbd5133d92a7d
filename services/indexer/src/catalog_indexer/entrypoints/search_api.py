"""The search API (`catalog-search`): reads the indexer's read model; on its own port, default 127.0.0.1:8001."""

from dataclasses import asdict
from decimal import Decimal
from typing import Annotated, Any

import uvicorn
from fastapi import Depends, FastAPI, Query
from fastapi.exceptions import RequestValidationError
from sqlalchemy import Engine, text

from catalog_http.nul_characters import refuse_nul_characters
from catalog_http.openapi import complete_openapi, error_responses
from catalog_http.problems import install_problem_handlers, problem_response
from catalog_indexer.adapters.search import search
from catalog_indexer.domain.search_query import SearchQuery, Sort
from catalog_indexer.settings import IndexerSettings
from catalog_kit.db import make_engine
from catalog_kit.jsonlog import configure_logging


def create_app(settings: IndexerSettings, engine: Engine | None = None) -> FastAPI:
    engine = engine or make_engine(settings.database_url, settings.db_pool_size)
    app = FastAPI(
        title="Catalog search API",
        version="1.0.0",
        description="Full-text, typo-tolerant product search over the indexer's read model.",
        dependencies=[Depends(refuse_nul_characters)],
    )
    install_problem_handlers(app)
    complete_openapi(app)

    @app.get("/search", tags=["search"], responses=error_responses(422))
    def search_products(
        q: Annotated[str | None, Query(max_length=200, description="Words, a phrase in quotes, or a SKU")] = None,
        brand: Annotated[str | None, Query(max_length=100)] = None,
        category: Annotated[str | None, Query(max_length=200)] = None,
        price_min: Annotated[Decimal | None, Query(ge=0, allow_inf_nan=False)] = None,
        price_max: Annotated[Decimal | None, Query(ge=0, allow_inf_nan=False)] = None,
        status: Annotated[str | None, Query(pattern="^(draft|active|archived)$")] = "active",
        sort: Sort = "relevance",
        page: Annotated[int, Query(ge=1)] = 1,
        limit: Annotated[int, Query(ge=1, le=settings.search_page_size_max)] = 20,
    ) -> Any:
        """Products matching `q` and the filters, with facet counts and highlighted snippets."""
        if price_min is not None and price_max is not None and price_min > price_max:
            raise RequestValidationError(
                [{"loc": ("query", "price_max"), "msg": "must not be below price_min", "type": "price_range"}]
            )
        if page * limit > settings.search_max_offset:
            raise RequestValidationError(
                [
                    {
                        "loc": ("query", "page"),
                        "type": "page_too_deep",
                        "msg": f"results beyond {settings.search_max_offset} are not served; narrow the query",
                    }
                ]
            )
        query = SearchQuery(
            text=(q or "").strip() or None,
            brand=brand,
            category=category,
            price_min=price_min,
            price_max=price_max,
            status=status,
            sort=sort,
            page=page,
            limit=limit,
        )
        with engine.connect() as conn:
            result = search(conn, query, settings.search_fuzzy_threshold)
        return {
            "total": result.total,
            "page": page,
            "limit": limit,
            "hits": [asdict(h) for h in result.hits],
            "facets": result.facets,
        }

    @app.get("/healthz", tags=["operations"])
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["operations"], responses=error_responses(503))
    def readyz() -> Any:
        try:
            with engine.connect() as conn:
                conn.execute(text("SELECT 1 FROM search.documents LIMIT 1"))
        except Exception as exc:
            return problem_response(503, "not-ready", "Read model unreachable", type(exc).__name__)
        return {"status": "ready"}

    return app


def main() -> None:
    settings = IndexerSettings()
    configure_logging("search-api", settings.log_level)
    uvicorn.run(
        create_app(settings), host=settings.search_host, port=settings.search_port, log_config=None, access_log=False
    )
