"""Liveness and readiness of the search API: `/healthz` (the process is up), `/readyz` (the read model answers)."""

from typing import Any

from fastapi import APIRouter
from sqlalchemy import text

from catalog_http.openapi import error_responses
from catalog_http.problems import Problem
from catalog_indexer.entrypoints.deps import ReadModel

router = APIRouter(tags=["operations"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", responses=error_responses(503))
def readyz(engine: ReadModel) -> Any:
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1 FROM search.documents LIMIT 1"))
    except Exception as exc:
        return Problem(503, "not-ready", "Read model unreachable", type(exc).__name__).response()
    return {"status": "ready"}
