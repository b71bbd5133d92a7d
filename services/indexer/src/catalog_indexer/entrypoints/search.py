"""`GET /search`: typo-tolerant product search over the search index, with facets and highlights."""

from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, Depends, Query
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from catalog_http.bounds import at_most
from catalog_http.openapi import error_responses
from catalog_http.problems import RETRY_AFTER_S, Problem
from catalog_indexer.adapters.search_index import IndexNotReady
from catalog_indexer.domain.search_query import SearchQuery, Sort
from catalog_indexer.entrypoints.deps import Index, PendingReports, Settings

router = APIRouter(tags=["search"])
RETRY = {"Retry-After": str(RETRY_AFTER_S)}


# async: it does no I/O, and a sync dependency would cost each request a hand-over to the thread pool and back.
async def search_query(
    settings: Settings,
    q: Annotated[str | None, Query(max_length=200, description="Words, a phrase in quotes, or a SKU")] = None,
    brand: Annotated[str | None, Query(max_length=100)] = None,
    category: Annotated[str | None, Query(max_length=200)] = None,
    price_min: Annotated[Decimal | None, Query(ge=0, allow_inf_nan=False)] = None,
    price_max: Annotated[Decimal | None, Query(ge=0, allow_inf_nan=False)] = None,
    status: Annotated[str | None, Query(pattern="^(draft|active|archived)$")] = "active",
    sort: Sort = "relevance",
    page: Annotated[int, Query(ge=1)] = 1,
    limit: Annotated[int, Query(ge=1, description="Page size, at most SEARCH_PAGE_SIZE_MAX")] = 20,
) -> SearchQuery:
    """The query the parameters ask for; a 422 naming the field if they do not fit together or go too deep."""
    at_most(limit, settings.search_page_size_max, "limit")
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
    return SearchQuery(
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


@router.get("/search", responses=error_responses(422, 503))
def search_products(
    query: Annotated[SearchQuery, Depends(search_query)],
    index: Index,
    pending: PendingReports,
    after_response: BackgroundTasks,
) -> Any:
    """Products matching `q` (the most words first) and the filters, with facet counts and highlighted words."""
    try:
        result = index.search(query)
    except IndexNotReady as exc:
        raise Problem(503, "not-ready", "The search index is being built", str(exc), headers=RETRY) from exc
    # Hits still waiting for enrichment jump the enricher's queue; reported after the response, never before it.
    if pending and pending.note(h.id for h in result.hits if h.enrichment_status == "pending"):
        after_response.add_task(pending.flush)
    # Plain JSON types already: rendered as they are, without FastAPI's generic encoder walking every value again
    # (the search API's Python work is what concurrent queries queue for; the engine's work runs in parallel).
    return JSONResponse(
        {
            "total": result.total,
            "page": query.page,
            "limit": query.limit,
            "hits": [vars(h) for h in result.hits],
            "facets": result.facets,
        },
        background=after_response,
    )
