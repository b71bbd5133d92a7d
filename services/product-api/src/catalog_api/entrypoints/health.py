"""Liveness and readiness: `/healthz` (the process is up) and `/readyz` (its database answers)."""

from fastapi import APIRouter
from sqlalchemy import text

from catalog_api.entrypoints.deps import DbSession
from catalog_api.entrypoints.problems import Problem
from catalog_http.openapi import error_responses

router = APIRouter(tags=["operations"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@router.get("/readyz", responses=error_responses(503))
def readyz(session: DbSession) -> dict[str, str]:
    """The process can serve: its database answers."""
    try:
        session.execute(text("SELECT 1"))
    except Exception as exc:
        raise Problem(503, "not-ready", "Database unreachable", type(exc).__name__) from exc
    return {"status": "ready"}
