"""The `/imports` endpoints: upload a supplier feed (202 + job), watch the job and its row ledger, cancel, retry.

Every endpoint needs a key (see `access.py`), and a key sees and acts on only the jobs it submitted; an admin key
on every job, and only admins see who submitted a job, which worker ran it and its internal errors.
"""

import logging
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Literal, TypeVar

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from catalog_api.domain.keys import Principal
from catalog_api.entrypoints.cursors import decode_cursor, encode_cursor
from catalog_api.entrypoints.deps import Caller, Imports, Outbox, PageLimit, Sessions, Settings, Store, Traceparent
from catalog_api.entrypoints.problems import Problem
from catalog_api.entrypoints.uploads import Upload, receive_upload
from catalog_api.service_layer import lineage
from catalog_api.service_layer.imports import ImportRequests
from catalog_core.domain.imports import (
    NEEDS_ATTENTION,
    SUCCEEDED,
    FeedFormat,
    ImportJob,
    ImportJobNotFound,
    JobConflict,
    JobState,
    RowStatus,
    UnknownFormat,
    check_retryable,
    declared_format,
)
from catalog_core.domain.model import new_id
from catalog_core.service_layer.imports import feed_key
from catalog_http.openapi import error_responses
from catalog_kit.outbox import OutboxWriter

log = logging.getLogger("catalog_api.imports")
T = TypeVar("T")

# Bodies of these paths are streamed to the object store under `MAX_IMPORT_BYTES`, not buffered under
# `MAX_BODY_BYTES` (see BodySizeLimit).
UPLOAD_PATHS = (r"/imports", r"/imports/[^/]+/retry-failed")

# The bodies are parsed as streams, so FastAPI cannot infer them; this documents them in the OpenAPI schema.
_FORM = {
    "type": "object",
    "required": ["file"],
    "properties": {
        "file": {"type": "string", "format": "binary", "description": "The feed (CSV or JSON Lines, UTF-8)."},
        "format": {"type": "string", "enum": ["csv", "jsonl"], "description": "Else the file part's Content-Type."},
    },
}


def _upload_body(required: bool) -> dict[str, Any]:
    return {"requestBody": {"required": required, "content": {"multipart/form-data": {"schema": _FORM}}}}


RowFilter = Literal["created", "updated", "unchanged", "failed", "skipped", "succeeded", "attention"]
_ROW_FILTERS: dict[str, frozenset[RowStatus]] = {
    "succeeded": SUCCEEDED,
    "attention": NEEDS_ATTENTION,
    **{status.value: frozenset({status}) for status in RowStatus},
}


router = APIRouter(prefix="/imports", tags=["imports"])


@router.post(
    "",
    status_code=202,
    openapi_extra=_upload_body(required=True),
    responses=error_responses(
        401,
        {
            413: "Feed larger than MAX_IMPORT_BYTES",
            415: "Not multipart/form-data",
            422: "No file, or no/unknown format",
        },
    ),
)
async def submit_import(
    request: Request,
    caller: Caller,
    settings: Settings,
    sessions: Sessions,
    outbox: Outbox,
    store: Store,
    traceparent: Traceparent,
) -> JSONResponse:
    """Upload a feed (multipart: `file`, and `format` = csv | jsonl unless the file part's Content-Type says it).

    The job runs in the background; follow `status_url`.
    """
    job_id = new_id()
    upload = await receive_upload(request, store, feed_key(job_id), settings.max_import_bytes)
    try:
        fmt = _format(upload)
        job = await run_in_threadpool(
            _in_transaction,
            sessions,
            outbox,
            caller,
            lambda r: r.submit(job_id, upload.stored, fmt, upload.file_name, caller.id),
            traceparent,
        )
    except BaseException:
        store.delete(upload.stored.key)  # no job points at it
        raise
    log.info(
        "import submitted",
        extra={"job_id": str(job.id), "format": str(fmt), "bytes": upload.stored.size, "principal": caller.id},
    )
    return _accepted(job, caller)


@router.get("", responses=error_responses(422, {400: "Invalid cursor"}))
def list_imports(
    requests: Imports, caller: Caller, limit: PageLimit, state: JobState | None = None, cursor: str | None = None
) -> dict[str, Any]:
    """The caller's jobs (an admin's: every job), newest first; follow `next_cursor` until it is null."""
    page = requests.page(state=state, before=decode_cursor(cursor, uuid.UUID), limit=limit + 1)
    items = page[:limit]
    now = datetime.now(UTC)
    return {
        "items": [_view(job, caller, now) for job in items],
        "next_cursor": encode_cursor(str(items[-1].id)) if len(page) > limit else None,
    }


@router.get("/{job_id}", responses=error_responses(422, {404: "Unknown job, or another key's"}))
def get_import(job_id: uuid.UUID, requests: Imports, caller: Caller) -> dict[str, Any]:
    """State, row counts, progress, rate, times and failed rows by error category."""
    return _view(_get(requests, job_id), caller, datetime.now(UTC))


@router.get("/{job_id}/lineage", responses=error_responses(422, {404: "Unknown job, or another key's"}))
def get_import_lineage(job_id: uuid.UUID, requests: Imports) -> dict[str, Any]:
    """How many of the products the job created or updated reached each stage (persisted, published, indexed_fast,
    enriched, indexed_full, media_processed: `of` those that can), and when the first and the last did."""
    return _not_found_as_problem(lambda: lineage.of_job(requests, job_id))


@router.get(
    "/{job_id}/rows", responses=error_responses(422, {400: "Invalid cursor", 404: "Unknown job, or another key's"})
)
def list_import_rows(
    job_id: uuid.UUID,
    requests: Imports,
    limit: PageLimit,
    status: RowFilter | None = None,
    cursor: str | None = None,
) -> dict[str, Any]:
    """What happened to each row, in row order: `?status=failed` lists the rows to fix, with the field at fault.

    `attention` = failed or skipped (rows of a product that another of its rows made fail).
    """
    after = decode_cursor(cursor, int) or 0
    statuses = sorted(_ROW_FILTERS[status]) if status else None
    page = _not_found_as_problem(lambda: requests.rows(job_id, statuses=statuses, after=after, limit=limit + 1))
    items = page[:limit]
    return {"items": items, "next_cursor": encode_cursor(items[-1]["row"]) if len(page) > limit else None}


@router.post(
    "/{job_id}/retry-failed",
    status_code=202,
    openapi_extra=_upload_body(required=False),
    responses=error_responses(
        401,
        413,
        415,
        422,
        {404: "Unknown job, or another key's", 409: "No failed rows to retry, or the job is not finished"},
    ),
)
async def retry_failed_rows(
    job_id: uuid.UUID,
    request: Request,
    caller: Caller,
    settings: Settings,
    sessions: Sessions,
    outbox: Outbox,
    store: Store,
    traceparent: Traceparent,
) -> JSONResponse:
    """Process the failed rows (and the rows skipped with them) again, each at most IMPORT_MAX_ROW_ATTEMPTS
    times in all.

    Without a body the rows are read from the job's feed again (for failures the catalog caused: a SKU since
    freed, a product since created). With a multipart `file`, the rows are read from that corrected copy of
    the feed, which must keep every row where it was (fix rows in place; do not add or remove rows).
    """
    job = await run_in_threadpool(_in_transaction, sessions, outbox, caller, lambda r: _get(r, job_id))
    _conflict_as_problem(lambda: check_retryable(job.state))
    upload: Upload | None = None
    if request.headers.get("content-type", "").lower().startswith("multipart/"):
        key = feed_key(job_id, correction=uuid.uuid4())
        upload = await receive_upload(request, store, key, settings.max_import_bytes)
    try:
        fmt = _format(upload, default=job.format) if upload else None
        stored = upload.stored if upload else None
        job = await run_in_threadpool(
            _in_transaction,
            sessions,
            outbox,
            caller,
            lambda r: _conflict_as_problem(lambda: r.retry_failed(job_id, stored, fmt)),
            traceparent,
        )
    except BaseException:
        if upload is not None:
            store.delete(upload.stored.key)
        raise
    log.info("import retry requested", extra={"job_id": str(job_id), "corrected_feed": upload is not None})
    return _accepted(job, caller)


@router.post(
    "/{job_id}/cancel",
    status_code=202,
    responses=error_responses(401, 422, {404: "Unknown job, or another key's", 409: "Already finished"}),
)
def cancel_import(job_id: uuid.UUID, caller: Caller, sessions: Sessions, outbox: Outbox) -> JSONResponse:
    """Cancel a job: a pending one at once, a running one at its next chunk boundary (rows already committed
    stay committed)."""
    job = _in_transaction(sessions, outbox, caller, lambda r: _conflict_as_problem(lambda: r.cancel(job_id)))
    log.info("import cancel requested", extra={"job_id": str(job_id), "state": str(job.state)})
    return _accepted(job, caller)


def _in_transaction(
    sessions: sessionmaker[Session],
    outbox: OutboxWriter,
    caller: Principal,
    command: Callable[[ImportRequests], ImportJob],
    traceparent: str | None = None,
) -> ImportJob:
    """`command` on the caller's jobs in a transaction of its own (the request's session is not used across an
    upload); `traceparent`: the request's trace, for a command that starts a run."""
    with sessions() as session, session.begin():
        return command(ImportRequests(session, outbox, owner=caller.owner_filter, traceparent=traceparent))


def _get(requests: ImportRequests, job_id: uuid.UUID) -> ImportJob:
    return _not_found_as_problem(lambda: requests.get(job_id))


def _not_found_as_problem(command: Callable[[], T]) -> T:
    try:
        return command()
    except ImportJobNotFound as exc:
        raise Problem(404, "not-found", "Import job not found", str(exc)) from exc


def _conflict_as_problem(command: Callable[[], T]) -> T:
    try:
        return command()
    except ImportJobNotFound as exc:
        raise Problem(404, "not-found", "Import job not found", str(exc)) from exc
    except JobConflict as exc:
        raise Problem(409, "import-state", "Not possible in the job's state", str(exc)) from exc


def _format(upload: Upload, default: FeedFormat | None = None) -> FeedFormat:
    if default is not None and "format" not in upload.fields:
        return default
    try:
        return declared_format(upload.fields.get("format"), upload.content_type)
    except UnknownFormat as exc:
        raise Problem(
            422, "validation", "Invalid request", str(exc), [{"field": "format", "message": str(exc), "code": "format"}]
        ) from exc


def _accepted(job: ImportJob, caller: Principal) -> JSONResponse:
    return JSONResponse(_view(job, caller, datetime.now(UTC)), 202, {"Location": f"/imports/{job.id}"})


def _view(job: ImportJob, caller: Principal, now: datetime) -> dict[str, Any]:
    """The job as the caller may see it: operators also see who submitted it, where it ran and why it broke."""
    view = job.view(now)
    if caller.is_admin:
        view |= {"submitted_by": job.submitted_by, "worker": job.claimed_by, "last_error": job.last_error}
    return view
