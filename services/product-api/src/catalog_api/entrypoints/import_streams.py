"""A job's live progress as Server-Sent Events, and its row ledger as a CSV or JSON Lines download.

Both follow the job's ownership (the submitter's key, or an admin's; the console's session counts as its admin
key here) and neither holds much: the stream reads one job row and its new transitions per poll, a download reads
the ledger through a server-side cursor and writes it out a batch at a time.
"""

import asyncio
import csv
import io
import json
import logging
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Query
from fastapi.responses import StreamingResponse
from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.concurrency import run_in_threadpool

from catalog_api.domain.ledger_files import CSV_COLUMNS, csv_cells, json_lines
from catalog_api.domain.progress import next_events, resume_from
from catalog_api.entrypoints.deps import Caller, Outbox, Sessions, Settings, StreamSlotsDep
from catalog_api.entrypoints.imports import _ROW_FILTERS, RowFilter, _get, _in_transaction, _view
from catalog_api.entrypoints.problems import Problem
from catalog_api.service_layer.import_progress import job_snapshot, ledger_entries
from catalog_core.domain.imports import FINISHED, ImportJobNotFound
from catalog_http.openapi import error_responses
from catalog_http.problems import RETRY_AFTER_S
from catalog_kit.outages import DATABASE_OUTAGES

log = logging.getLogger("catalog_api.import_streams")
router = APIRouter(prefix="/imports", tags=["imports"])

# `all`: every ledger entry; otherwise like `/rows?status=`.
FileFilter = Literal[RowFilter, "all"]
_CSV_BATCH = 500  # ledger entries per written chunk


@router.get("/{job_id}/events", include_in_schema=False)
async def import_events(
    job_id: uuid.UUID,
    caller: Caller,
    sessions: Sessions,
    outbox: Outbox,
    settings: Settings,
    slots: StreamSlotsDep,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID")] = None,
    after: Annotated[str | None, Query(max_length=50, description="An event id to start after")] = None,
) -> EventSourceResponse:
    """`text/event-stream` of the job: `state` for every state it entered, `progress` with the fields of
    `GET /imports/{id}` whenever they change, `end` once it is finished (then the stream closes). Every event has
    an id; reconnecting with `Last-Event-ID` sends what was missed, no state change lost or repeated. A page that
    already shows part of the history starts with `?after=<event id>` (the header wins on a reconnect)."""
    # 404 for an unknown job or another key's; in a session of its own (the stream must not hold the request's).
    await run_in_threadpool(_in_transaction, sessions, outbox, caller, lambda r: _get(r, job_id))
    if not slots.take():
        raise Problem(503, "unavailable", "Too many live streams", "try again shortly", headers={"Retry-After": "5"})
    cursor = resume_from(last_event_id or after)

    async def events() -> AsyncIterator[ServerSentEvent]:
        nonlocal cursor
        try:
            while True:
                try:
                    job, new = await run_in_threadpool(job_snapshot, sessions, job_id, cursor.transition)
                except ImportJobNotFound:
                    return
                except DATABASE_OUTAGES as exc:
                    # A database restart pauses the stream; the client keeps its place and sees what it missed.
                    log.warning("job stream paused", extra={"job_id": str(job_id), "error": type(exc).__name__})
                    await asyncio.sleep(RETRY_AFTER_S)
                    continue
                finished = job.state in FINISHED
                cursor, batch = next_events(
                    cursor,
                    [(t.id, {"job_id": str(job_id), **t.view()}) for t in new],
                    job.updated_at,
                    _view(job, caller, datetime.now(UTC)),
                    finished,
                )
                for event in batch:
                    yield ServerSentEvent(json.dumps(event.data, default=str), event=event.event, id=event.id)
                if finished:
                    return
                await asyncio.sleep(settings.import_events_poll_s)
        finally:
            slots.give_back()

    return EventSourceResponse(
        events(),
        ping=settings.import_events_ping_s,
        # Proxies must not buffer the stream.
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


_FILE_RESPONSES: dict[int | str, dict[str, Any]] = error_responses(422, {404: "Unknown job, or another key's"})


@router.get(
    "/{job_id}/rows.csv",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}}}, **_FILE_RESPONSES},
)
def import_rows_csv(
    job_id: uuid.UUID, caller: Caller, sessions: Sessions, outbox: Outbox, status: FileFilter = "failed"
) -> StreamingResponse:
    """The job's ledger as CSV (failed rows unless `status` says otherwise; `all` for every row), streamed.

    Cells that a spreadsheet would read as a formula (starting with `=`, `+`, `-`, `@`, tab or CR) start with `'`.
    """
    _in_transaction(sessions, outbox, caller, lambda r: _get(r, job_id))
    entries = ledger_entries(sessions, job_id, _statuses(status))
    return StreamingResponse(
        _csv_chunks(entries),
        media_type="text/csv; charset=utf-8",
        headers=_attachment(job_id, status, "csv"),
    )


@router.get(
    "/{job_id}/rows.jsonl",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/jsonl": {"schema": {"type": "string"}}}}, **_FILE_RESPONSES},
)
def import_rows_jsonl(
    job_id: uuid.UUID, caller: Caller, sessions: Sessions, outbox: Outbox, status: FileFilter = "failed"
) -> StreamingResponse:
    """The job's ledger as JSON Lines, one entry per line as `/rows` lists them (failed rows unless `status`)."""
    _in_transaction(sessions, outbox, caller, lambda r: _get(r, job_id))
    entries = ledger_entries(sessions, job_id, _statuses(status))
    return StreamingResponse(
        json_lines(entries), media_type="application/jsonl", headers=_attachment(job_id, status, "jsonl")
    )


def _statuses(status: FileFilter) -> list[Any] | None:
    return None if status == "all" else sorted(_ROW_FILTERS[status])


def _attachment(job_id: uuid.UUID, status: str, extension: str) -> dict[str, str]:
    return {"Content-Disposition": f'attachment; filename="import-{job_id}-{status}.{extension}"'}


def _csv_chunks(entries: Iterator[dict[str, Any]]) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for n, entry in enumerate(entries, start=1):
        writer.writerow(csv_cells(entry))
        if n % _CSV_BATCH == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()
