"""Liveness and readiness of the search API: `/healthz` (the process is up), `/readyz` (the index answers).

Readiness also tells how far the index is behind the read model (`lag`: read-model changes not yet applied;
`behind_s`: how long the oldest of them has waited), so a stalled index writer shows without reading logs (and in
`catalog_search_index_*` metrics), and how many fresh products the overlay answers for (`fresh`); the
read model being down makes the API not ready either.
"""

from typing import Any

from fastapi import APIRouter
from sqlalchemy import Engine

from catalog_http.openapi import error_responses
from catalog_http.problems import Problem
from catalog_indexer.adapters.read_model import SearchDocuments
from catalog_indexer.adapters.search_index import SearchIndex
from catalog_indexer.adapters.search_metrics import IndexLag
from catalog_indexer.entrypoints.deps import Index, ReadModel

router = APIRouter(tags=["operations"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", responses=error_responses(503))
def readyz(engine: ReadModel, index: Index) -> Any:
    try:
        index.position()
    except Exception as exc:
        return Problem(503, "not-ready", "Search index not available yet", type(exc).__name__).response()
    try:
        lag = index_lag(engine, index)
    except Exception as exc:
        return Problem(503, "not-ready", "Read model unreachable", type(exc).__name__).response()
    return {
        "status": "ready",
        "index_position": lag.position,
        "read_model_change": lag.last_change,
        "lag": lag.lag,
        # Searches still answer while the index's writer is stalled (from an older index): this says for how long.
        "behind_s": round(lag.behind_s, 3),
        "fresh": lag.fresh,  # products answered from the overlay until the index has them
    }


def index_lag(engine: Engine, index: SearchIndex) -> IndexLag:
    """How far the index this process searches is behind the read model."""
    position = index.position()
    last, behind_s = SearchDocuments(engine).behind(position)
    return IndexLag(position, last, behind_s, index.fresh_pending())
