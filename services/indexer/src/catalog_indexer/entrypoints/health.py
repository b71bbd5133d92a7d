"""Liveness and readiness of the search API: `/healthz` (the process is up), `/readyz` (the index answers).

Readiness also tells how far the index is behind the read model (`lag`: read-model changes not yet applied), so a
stalled index writer shows without reading logs, and how many fresh products the overlay answers for (`fresh`); the
read model being down makes the API not ready either.
"""

from typing import Any

from fastapi import APIRouter
from sqlalchemy import text

from catalog_http.openapi import error_responses
from catalog_http.problems import Problem
from catalog_indexer.entrypoints.deps import Index, ReadModel

router = APIRouter(tags=["operations"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", responses=error_responses(503))
def readyz(engine: ReadModel, index: Index) -> Any:
    try:
        position = index.position()
    except Exception as exc:
        return Problem(503, "not-ready", "Search index not available yet", type(exc).__name__).response()
    try:
        with engine.connect() as conn:
            last = conn.execute(text("SELECT coalesce(max(change), 0) FROM search.documents")).scalar_one()
    except Exception as exc:
        return Problem(503, "not-ready", "Read model unreachable", type(exc).__name__).response()
    return {
        "status": "ready",
        "index_position": position,
        "read_model_change": last,
        "lag": max(0, last - position),
        "fresh": index.fresh_pending(),  # products answered from the overlay until the index has them
    }
