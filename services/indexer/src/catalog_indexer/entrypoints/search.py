"""`GET /search`: full-text, typo-tolerant product search over the read model, with facets and snippets."""

from dataclasses import asdict
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, Depends, Query
from fastapi.exceptions import RequestValidationError

from catalog_http.bounds import at_most
from catalog_http.openapi import error_responses
from catalog_indexer.adapters.search import search
from catalog_indexer.domain.search_query import SearchQuery, Sort
from catalog_indexer.entrypoints.deps import PendingReports, ReadModel, Settings

router = APIRouter(tags=["search"])


def search_query(
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


@router.get("/search", responses=error_responses(422))
def search_products(
    query: Annotated[SearchQuery, Depends(search_query)],
    engine: ReadModel,
    settings: Settings,
    pending: PendingReports,
    after_response: BackgroundTasks,
) -> Any:
    """Products matching `q` and the filters, with facet counts and highlighted snippets."""
    with engine.connect() as conn:
        result = search(conn, query, settings.search_fuzzy_threshold)
    # Hits still waiting for enrichment jump the enricher's queue; reported after the response, never before it.
    if pending and pending.note(h.id for h in result.hits if h.enrichment_status == "pending"):
        after_response.add_task(pending.flush)
    return {
        "total": result.total,
        "page": query.page,
        "limit": query.limit,
        "hits": [asdict(h) for h in result.hits],
        "facets": result.facets,
    }
