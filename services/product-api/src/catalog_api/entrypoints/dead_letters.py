"""`/admin/dead-letters`: each processor's dead letters for operators (what the console shows, as JSON): list and
search them, replay them to their original topics, discard them. Admin keys only."""

import logging
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from catalog_api.entrypoints.deps import Caller, Sessions, Settings
from catalog_api.entrypoints.problems import Problem
from catalog_api.service_layer.dead_letters import DeadLetterDesk
from catalog_http.openapi import error_responses
from catalog_schemas.topics import PROCESSORS

log = logging.getLogger("catalog_api.dead_letters")
router = APIRouter(prefix="/admin/dead-letters", tags=["operations"])
ProcessorName = Annotated[
    str, Path(pattern=f"^({'|'.join(PROCESSORS)})$", description=f"One of {', '.join(PROCESSORS)}")
]
_BROKER_DOWN = {503: "The broker cannot be read right now"}


class RecordRef(BaseModel):
    partition: int = Field(ge=0)
    offset: int = Field(ge=0)


class ReplayRequest(BaseModel):
    records: list[RecordRef] | None = Field(
        default=None, max_length=10_000, description="The records to replay; omit (with all=true) for every open one"
    )
    all: bool = False
    force: bool = Field(default=False, description="Also send records that still break their contract")


class DiscardRequest(BaseModel):
    records: list[RecordRef] = Field(min_length=1, max_length=10_000)
    note: str | None = Field(default=None, max_length=500)


def _desk(settings: Settings, sessions: Sessions, processor: str) -> DeadLetterDesk:
    return DeadLetterDesk(settings, sessions, processor, settings.dead_letter_scan_max)


async def _blocking(function: Any, *args: Any) -> Any:
    try:
        return await run_in_threadpool(function, *args)
    except Problem:
        raise
    except Exception as exc:
        log.warning("dead letters unreadable", extra={"error": f"{type(exc).__name__}: {exc}"[:300]})
        raise Problem(
            503,
            "unavailable",
            "Service unavailable",
            "the broker cannot be read right now; retry shortly",
            headers={"Retry-After": "5"},
        ) from exc


@router.get("/{processor}", responses=error_responses(401, 403, 422, _BROKER_DOWN))
async def list_dead_letters(
    processor: ProcessorName,
    settings: Settings,
    sessions: Sessions,
    q: Annotated[str | None, Query(max_length=200, description="Part of a product id, SKU, error or type")] = None,
    include_resolved: bool = False,
) -> dict[str, Any]:
    """The processor's dead letters, newest first, with headers, payload and what was done about them."""
    letters = await _blocking(_desk(settings, sessions, processor).letters, q, include_resolved)
    return {"items": [letter.view() for letter in letters]}


@router.post("/{processor}/replay", responses=error_responses(401, 403, 413, 422, _BROKER_DOWN))
async def replay_dead_letters(
    processor: ProcessorName, body: ReplayRequest, settings: Settings, sessions: Sessions, caller: Caller
) -> dict[str, Any]:
    """Send records back to their original topics (recorded as replayed once the broker acknowledged them)."""
    if body.records is None and not body.all:
        raise Problem(
            422,
            "validation",
            "Invalid request",
            "name the records, or set all to true",
            [{"field": "records", "message": "name the records, or set all to true", "code": "missing"}],
        )
    records = None if body.records is None else {(r.partition, r.offset) for r in body.records}
    outcome = await _blocking(_desk(settings, sessions, processor).replay, records, caller.id, body.force)
    log.info("dead letters replayed", extra={"processor": processor, "sent": len(outcome.sent), "principal": caller.id})
    return {
        "sent": [{"partition": p, "offset": o} for p, o in outcome.sent],
        "refused": [{"partition": p, "offset": o, "problem": why} for (p, o), why in sorted(outcome.refused.items())],
    }


@router.post("/{processor}/discard", responses=error_responses(401, 403, 413, 422, _BROKER_DOWN))
async def discard_dead_letters(
    processor: ProcessorName, body: DiscardRequest, settings: Settings, sessions: Sessions, caller: Caller
) -> dict[str, Any]:
    """Mark records discarded: they stay in the topic, hidden from the open list."""
    records = {(r.partition, r.offset) for r in body.records}
    done = await _blocking(_desk(settings, sessions, processor).discard, records, caller.id, body.note)
    log.info("dead letters discarded", extra={"processor": processor, "count": len(done), "principal": caller.id})
    return {"discarded": [{"partition": p, "offset": o} for p, o in done]}
