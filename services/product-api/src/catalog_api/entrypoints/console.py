"""The operator console: server-rendered pages under `/console` for admins (Jinja2 templates, one CSS file and a
few lines of JavaScript for the live job progress; no build step).

A login form takes an admin key and starts a session (`console_session`); every other page needs it (or an admin
bearer key). Pages only read and call the service layer and the adapters the JSON API uses: the console can do
nothing the API cannot.
"""

import json
import logging
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, TypeVar
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, FastAPI, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.concurrency import run_in_threadpool

from catalog_api.adapters.enrichment_overview import enrichment_counts
from catalog_api.adapters.pipeline_probe import probe
from catalog_api.domain.keys import Principal, stored_key_id, well_formed
from catalog_api.domain.pipeline import InvalidTargets, overview, parse_targets
from catalog_api.entrypoints.auth import KeyLookup, env_principal, stored_principal
from catalog_api.entrypoints.console_session import COOKIE, same_origin
from catalog_api.entrypoints.cursors import decode_cursor, encode_cursor
from catalog_api.entrypoints.deps import (
    Caller,
    ConsoleSessionsDep,
    LoginRequired,
    Outbox,
    Sessions,
    Settings,
    get_key_lookup,
)
from catalog_api.entrypoints.imports import _ROW_FILTERS, _view
from catalog_api.entrypoints.problems import Problem
from catalog_api.service_layer.dead_letters import DeadLetterDesk
from catalog_api.service_layer.imports import ImportRequests
from catalog_api.service_layer.webhooks import MAX_URL_LENGTH, WebhookAdmin, WebhookUrlRefused
from catalog_core.adapters.import_history import ledger_row, search_jobs, transitions
from catalog_core.adapters.imports import ImportJobRepository
from catalog_core.adapters.schedules import all_schedules
from catalog_core.domain.imports import FINISHED, ImportJobNotFound, JobConflict, JobMode, JobState
from catalog_core.domain.webhooks import (
    EVENT_TYPES,
    Delivery,
    DeliveryNotFound,
    DeliveryState,
    Subscription,
    SubscriptionNotFound,
)
from catalog_kit.dead_letters import DeadLetter
from catalog_schemas.topics import PROCESSORS

log = logging.getLogger("catalog_api.console")
T = TypeVar("T")
HERE = Path(__file__).parent
templates = Jinja2Templates(directory=HERE / "console_templates")
router = APIRouter(prefix="/console", include_in_schema=False)
PAGE = 50
NAV = (
    ("overview", "Overview", "/console"),
    ("imports", "Imports", "/console/imports"),
    ("dead-letters", "Dead letters", "/console/dead-letters"),
    ("enrichment", "Enrichment", "/console/enrichment"),
    ("webhooks", "Webhooks", "/console/webhooks"),
)
STATE_TONES = {
    "PENDING": "neutral",
    "PROCESSING": "info",
    "COMPLETED": "ok",
    "COMPLETED_WITH_ERRORS": "warn",
    "FAILED": "bad",
    "CANCELLED": "muted",
    # webhook deliveries
    "pending": "info",
    "delivered": "ok",
    "failed": "bad",
}


def relative(moment: datetime | str | None, now: datetime | None = None) -> str:
    """`3 min ago`: how long ago, in the largest unit that fits."""
    if moment is None:
        return "—"
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    seconds = ((now or datetime.now(UTC)) - moment).total_seconds()
    future = seconds < 0
    seconds = abs(seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            text = f"{int(seconds // size)} {unit}"
            break
    else:
        text = f"{int(seconds)} s"
    return f"in {text}" if future else f"{text} ago"


def absolute(moment: datetime | str | None) -> str:
    if moment is None:
        return ""
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def number(value: float | None, digits: int = 0) -> str:
    if value is None:
        return "—"
    return f"{value:,.{digits}f}"


templates.env.filters.update(relative=relative, absolute=absolute, number=number)
templates.env.globals.update(nav=NAV, state_tones=STATE_TONES)


def page(request: Request, template: str, section: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    context |= {"section": section, "notice": request.query_params.get("notice"), "error": context.get("error")}
    return templates.TemplateResponse(request, template, context, status_code=status_code)


def back_to(path: str, **params: str) -> RedirectResponse:
    """After a form: 303 to a page (its `notice` shown once)."""
    query = urlencode({k: v for k, v in params.items() if v})
    return RedirectResponse(f"{path}?{query}" if query else path, status_code=303)


def install(app: FastAPI) -> None:
    """The console's static files and its login redirect (a browser without a session goes to the login form)."""
    app.mount("/console/static", StaticFiles(directory=HERE / "console_static"), name="console-static")

    async def to_login(request: Request, exc: Exception) -> Response:
        target = exc.path if isinstance(exc, LoginRequired) else "/console"
        return RedirectResponse(f"/console/login?{urlencode({'next': target})}", status_code=303)

    app.add_exception_handler(LoginRequired, to_login)


# --- login ---------------------------------------------------------------------------------------------------


@router.get("/login")
def login_form(request: Request, next: str = "/console") -> HTMLResponse:
    return page(request, "login.html", "login", next=_local(next))


@router.post("/login")
async def login(
    request: Request,
    settings: Settings,
    console: ConsoleSessionsDep,
    lookup: Annotated[KeyLookup, Depends(get_key_lookup)],
    key: Annotated[str, Form(max_length=300)] = "",
    next: Annotated[str, Form(max_length=2000)] = "/console",
) -> Response:
    """A key in, a session cookie out: only a key with the admin scope gets in."""
    target = _local(next)
    if not same_origin(request):
        return page(request, "login.html", "login", 403, next=target, error="Send the form from this page.")
    value = key.strip()
    principal: Principal | None = None
    if well_formed(value):
        principal = env_principal(value, settings.env_keys())
        if principal is None and stored_key_id(value) is not None:
            principal = await run_in_threadpool(stored_principal, value, lookup)
    if principal is None:
        log.info("console login refused", extra={"reason": "unknown key"})
        return page(request, "login.html", "login", 401, next=target, error="This key is not valid.")
    if not principal.is_admin:
        log.info("console login refused", extra={"reason": "not admin", "principal": principal.id})
        return page(request, "login.html", "login", 403, next=target, error="This key does not have the admin scope.")
    log.info("console login", extra={"principal": principal.id})
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        COOKIE,
        console.issue(value),
        max_age=int(console.max_age_s),
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/",
    )
    return response


@router.post("/logout")
def logout(caller: Caller) -> Response:
    log.info("console logout", extra={"principal": caller.id})
    response = RedirectResponse("/console/login", status_code=303)
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")
    return response


def _local(target: str) -> str:
    """Only console paths of this site are followed after a login (no open redirect)."""
    return target if target.startswith("/console") and not target.startswith("//") else "/console"


# --- overview ------------------------------------------------------------------------------------------------


@router.get("")
async def overview_page(request: Request, settings: Settings, sessions: Sessions) -> HTMLResponse:
    """Each processor's lag per lane, records/s and readiness; the outbox backlog and age; freshness p50/p99;
    webhook deliveries pending and failed."""
    try:
        targets = parse_targets(settings.pipeline_targets)
    except InvalidTargets as exc:
        return page(request, "overview.html", "overview", view=None, targets={}, error=str(exc))
    view = overview(await probe(targets)) if targets else None
    webhooks = await run_in_threadpool(_unfinished_deliveries, sessions, settings)
    return page(
        request, "overview.html", "overview", view=view, targets=targets, webhooks=webhooks, now=datetime.now(UTC)
    )


def _unfinished_deliveries(sessions: Sessions, settings: Settings) -> dict[DeliveryState, int] | None:
    """Pending and failed deliveries; None when the database cannot say (the overview still shows the rest)."""
    try:
        return _webhooks(sessions, settings, lambda admin: admin.unfinished())
    except Exception as exc:
        log.warning("webhook deliveries not counted", extra={"error": f"{type(exc).__name__}: {exc}"[:300]})
        return None


# --- imports -------------------------------------------------------------------------------------------------


@router.get("/imports")
def imports_page(
    request: Request,
    sessions: Sessions,
    caller: Caller,
    state: Annotated[list[JobState] | None, Query()] = None,
    mode: Annotated[str, Query(max_length=20, description="import | retry; empty: every kind")] = "",
    q: Annotated[str, Query(max_length=200)] = "",
    cursor: str | None = None,
) -> HTMLResponse:
    """Jobs newest first, filtered by state and kind (import, retry run) and searched by job id, file name or SKU;
    keyset paging."""
    before = decode_cursor(cursor, uuid.UUID)
    kind = _mode(mode)
    with sessions() as session:
        found = search_jobs(session, text=q or None, states=state, before=before, limit=PAGE + 1, mode=kind)
    jobs = found[:PAGE]
    now = datetime.now(UTC)
    next_cursor = encode_cursor(str(jobs[-1].id)) if len(found) > PAGE else None
    params = [("state", str(s)) for s in state or ()] + ([("q", q)] if q else []) + ([("mode", mode)] if mode else [])
    return page(
        request,
        "imports.html",
        "imports",
        jobs=[_view(job, caller, now) | {"retrying": _retrying(job)} for job in jobs],
        states=list(JobState),
        chosen=set(state or ()),
        modes=list(JobMode),
        mode=kind,
        q=q,
        next_url=f"/console/imports?{urlencode([*params, ('cursor', next_cursor)])}" if next_cursor else None,
        first_url=f"/console/imports?{urlencode(params)}" if cursor else None,
    )


@router.get("/imports/{job_id}")
def import_page(
    request: Request,
    job_id: uuid.UUID,
    sessions: Sessions,
    caller: Caller,
    status: str = "attention",
    cursor: str | None = None,
) -> HTMLResponse:
    """A job: live progress (EventSource on `/imports/{id}/events`), its state history, and its ledger."""
    status = status if status in _ROW_FILTERS or status == "all" else "attention"
    after = decode_cursor(cursor, int) or 0
    with sessions() as session:
        job = ImportJobRepository(session).get(job_id)
        if job is None:
            return page(request, "missing.html", "imports", 404, what=f"No import job {job_id}.")
        history = transitions(session, job_id)
        statuses = None if status == "all" else sorted(_ROW_FILTERS[status])
        rows = ImportJobRepository(session).rows(job_id, statuses=statuses, after=after, limit=PAGE + 1)
    now = datetime.now(UTC)
    next_cursor = encode_cursor(rows[PAGE - 1]["row"]) if len(rows) > PAGE else None
    return page(
        request,
        "import_job.html",
        "imports",
        job=_view(job, caller, now),
        finished=job.state in FINISHED,
        retrying=_retrying(job),
        history=[t.view() for t in history],
        # The live stream starts after the history shown (and sends the counts once at least).
        events_url=f"/imports/{job_id}/events?{urlencode({'after': f'{history[-1].id if history else 0}-0'})}",
        rows=rows[:PAGE],
        status=status,
        filters=["attention", "failed", "skipped", "succeeded", "created", "updated", "unchanged", "all"],
        next_url=f"/console/imports/{job_id}?{urlencode({'status': status, 'cursor': next_cursor})}"
        if next_cursor
        else None,
        first_url=f"/console/imports/{job_id}?{urlencode({'status': status})}" if cursor else None,
    )


@router.get("/imports/{job_id}/rows/{row_number}")
def import_row_page(request: Request, job_id: uuid.UUID, row_number: int, sessions: Sessions) -> HTMLResponse:
    with sessions() as session:
        entry = ledger_row(session, job_id, row_number)
    if entry is None:
        return page(request, "missing.html", "imports", 404, what=f"Job {job_id} has no row {row_number}.")
    return page(
        request,
        "import_row.html",
        "imports",
        job_id=str(job_id),
        entry=entry,
        errors_json=json.dumps(entry["errors"], indent=2, ensure_ascii=False),
    )


@router.post("/imports/{job_id}/retry-failed")
def retry_job(job_id: uuid.UUID, sessions: Sessions, outbox: Outbox, caller: Caller) -> Response:
    notice = _job_command(
        sessions, outbox, caller, lambda r: r.retry_failed(job_id), "Retry of the failed rows requested."
    )
    return back_to(f"/console/imports/{job_id}", notice=notice)


@router.post("/imports/{job_id}/cancel")
def cancel_job(job_id: uuid.UUID, sessions: Sessions, outbox: Outbox, caller: Caller) -> Response:
    notice = _job_command(sessions, outbox, caller, lambda r: r.cancel(job_id), "Cancel requested.")
    return back_to(f"/console/imports/{job_id}", notice=notice)


@router.post("/imports/retry-failed")
def retry_jobs(
    sessions: Sessions,
    outbox: Outbox,
    caller: Caller,
    job: Annotated[list[uuid.UUID] | None, Form(max_length=500)] = None,
) -> Response:
    """Bulk retry: every chosen job that has failed rows to retry, each in a transaction of its own."""
    done, refused = 0, 0
    for job_id in job or ():
        notice = _job_command(sessions, outbox, caller, _retry_command(job_id), "")
        done, refused = (done + 1, refused) if not notice else (done, refused + 1)
    text = f"Retry requested for {done} job(s)."
    if refused:
        text += f" {refused} job(s) had nothing to retry."
    return back_to("/console/imports", notice=text)


def _mode(text: str) -> JobMode | None:
    """The `mode` filter: empty for every kind, else import | retry (anything else: 422 naming the field)."""
    if not text:
        return None
    try:
        return JobMode(text)
    except ValueError:
        message = f"mode is one of {', '.join(JobMode)} (or empty)"
        raise Problem(
            422, "validation", "Invalid request", message, [{"field": "mode", "message": message, "code": "enum"}]
        ) from None


def _retry_command(job_id: uuid.UUID) -> Callable[[ImportRequests], object]:
    return lambda requests: requests.retry_failed(job_id)


def _job_command(
    sessions: Sessions, outbox: Outbox, caller: Caller, command: Callable[[ImportRequests], object], done: str
) -> str:
    try:
        with sessions() as session, session.begin():
            command(ImportRequests(session, outbox, owner=caller.owner_filter))
    except (ImportJobNotFound, JobConflict) as exc:
        return f"Not done: {exc}"
    return done


def _retrying(job: Any) -> bool:
    """Running but retrying: a run failed and the job waits for, or is in, another attempt."""
    return job.state in (JobState.PENDING, JobState.PROCESSING) and job.attempts > 0 and job.last_error is not None


# --- dead letters --------------------------------------------------------------------------------------------


def _desk(settings: Settings, sessions: Sessions, processor: str) -> DeadLetterDesk:
    return DeadLetterDesk(settings, sessions, processor, settings.dead_letter_scan_max)


@router.get("/dead-letters")
async def dead_letters_page(
    request: Request,
    settings: Settings,
    sessions: Sessions,
    processor: str = PROCESSORS[0],
    q: Annotated[str, Query(max_length=200)] = "",
    show: str = "open",
    offset: int = 0,
) -> HTMLResponse:
    """A processor's dead letters, newest first: open ones (or all, with what was done), searched by product id,
    SKU, error or event type."""
    processor = processor if processor in PROCESSORS else PROCESSORS[0]
    desk = _desk(settings, sessions, processor)
    error = None
    try:
        letters = await run_in_threadpool(desk.letters, q or None, show == "all")
    except Exception as exc:  # the broker is down or restarting: say so on the page, not as a 500
        log.warning(
            "dead letters unreadable", extra={"processor": processor, "error": f"{type(exc).__name__}: {exc}"[:300]}
        )
        letters, error = [], "The broker cannot be read right now; try again shortly."
    start = max(offset, 0)
    params = {"processor": processor, "q": q, "show": show}
    return page(
        request,
        "dead_letters.html",
        "dead-letters",
        processors=PROCESSORS,
        processor=processor,
        letters=letters[start : start + PAGE],
        total=len(letters),
        q=q,
        show=show,
        start=start,
        next_url=f"/console/dead-letters?{urlencode(params | {'offset': start + PAGE})}"
        if start + PAGE < len(letters)
        else None,
        prev_url=f"/console/dead-letters?{urlencode(params | {'offset': max(start - PAGE, 0)})}" if start else None,
        error=error,
    )


@router.get("/dead-letters/{processor}/{partition}/{offset}")
async def dead_letter_page(
    request: Request, processor: str, partition: int, offset: int, settings: Settings, sessions: Sessions
) -> HTMLResponse:
    if processor not in PROCESSORS:
        return page(request, "missing.html", "dead-letters", 404, what=f"No processor {processor!r}.")
    view = await run_in_threadpool(_desk(settings, sessions, processor).one, (partition, offset))
    if view is None:
        return page(request, "missing.html", "dead-letters", 404, what=f"No dead letter at {partition}:{offset}.")
    return page(
        request,
        "dead_letter.html",
        "dead-letters",
        processor=processor,
        letter=view,
        payload_json=json.dumps(view.payload, indent=2, ensure_ascii=False)
        if not isinstance(view.payload, str)
        else view.payload,
    )


@router.post("/dead-letters/{processor}/replay")
async def replay_dead_letters(
    processor: str,
    settings: Settings,
    sessions: Sessions,
    caller: Caller,
    record: Annotated[list[str] | None, Form(max_length=1000)] = None,
    all: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    if processor not in PROCESSORS:
        return back_to("/console/dead-letters", notice=f"No processor {processor!r}.")
    records = None if all else _records(record)
    if records is not None and not records:
        return back_to("/console/dead-letters", processor=processor, notice="Choose the dead letters to replay.")
    outcome = await run_in_threadpool(_desk(settings, sessions, processor).replay, records, caller.id)
    log.info("dead letters replayed", extra={"processor": processor, "sent": len(outcome.sent), "principal": caller.id})
    text = f"Replayed {len(outcome.sent)} record(s)."
    if outcome.refused:
        kept = "; ".join(f"{p}:{o} {why}" for (p, o), why in sorted(outcome.refused.items()))[:500]
        text += f" Kept back {len(outcome.refused)} that still break their contract: {kept}"
    return back_to("/console/dead-letters", processor=processor, notice=text)


@router.post("/dead-letters/{processor}/discard")
async def discard_dead_letters(
    processor: str,
    settings: Settings,
    sessions: Sessions,
    caller: Caller,
    record: Annotated[list[str] | None, Form(max_length=1000)] = None,
) -> Response:
    if processor not in PROCESSORS:
        return back_to("/console/dead-letters", notice=f"No processor {processor!r}.")
    records = _records(record)
    done = await run_in_threadpool(_desk(settings, sessions, processor).discard, records, caller.id)
    log.info("dead letters discarded", extra={"processor": processor, "count": len(done), "principal": caller.id})
    return back_to("/console/dead-letters", processor=processor, notice=f"Discarded {len(done)} record(s).")


def _records(values: list[str] | None) -> set[tuple[int, int]]:
    """`partition:offset` form values; anything else is ignored."""
    found = set()
    for value in values or ():
        partition, _, offset = value.partition(":")
        if partition.isdigit() and offset.isdigit():
            found.add((int(partition), int(offset)))
    return found


# --- enrichment ------------------------------------------------------------------------------------------


@router.get("/enrichment")
async def enrichment_page(request: Request, settings: Settings, sessions: Sessions) -> HTMLResponse:
    """Products enriched from their current version, pending ones, and what the enricher reports."""

    def counts() -> Any:
        with sessions() as session:
            return enrichment_counts(session), all_schedules(session)

    try:
        targets = {k: v for k, v in parse_targets(settings.pipeline_targets).items() if k == "enricher"}
    except InvalidTargets:
        targets = {}
    reports = await probe(targets) if targets else []
    enricher = reports[0] if reports else None
    statuses = (
        {s.labels.get("status", ""): s.value for s in enricher.values("catalog_enrichment_total")} if enricher else {}
    )
    breakers = (
        {s.labels.get("provider", ""): s.value for s in enricher.values("catalog_enrichment_breaker_state")}
        if enricher
        else {}
    )
    counted, schedules = await run_in_threadpool(counts)
    pending = (
        {s.labels.get("priority", ""): s.value for s in enricher.values("catalog_enrichment_pending")}
        if enricher
        else {}
    )
    queue = {"parked": enricher.total("catalog_enrichment_parked") if enricher else None}
    shed = (
        {s.labels.get("action", ""): s.value for s in enricher.values("catalog_enrichment_shed_total")}
        if enricher
        else {}
    )
    return page(
        request,
        "enrichment.html",
        "enrichment",
        counts=counted,
        schedules=schedules,
        enricher=enricher,
        statuses=statuses,
        breakers=breakers,
        pending=pending,
        queue=queue,
        shed=shed,
        priorities=("critical", "high", "normal", "low"),
    )


# --- webhooks ----------------------------------------------------------------------------------------------


def _webhooks(sessions: Sessions, settings: Settings, work: Callable[[WebhookAdmin], T]) -> T:
    """Run `work` with the webhook service layer in one transaction, as the JSON API does per request."""
    with sessions() as session, session.begin():
        return work(WebhookAdmin(session, settings.outbound_policy()))


@router.get("/webhooks")
def webhooks_page(request: Request, sessions: Sessions, settings: Settings, cursor: str | None = None) -> HTMLResponse:
    """Subscriptions oldest first with their pending and failed deliveries; the form that makes one."""
    return _webhooks_page(request, sessions, settings, cursor)


def _webhooks_page(
    request: Request,
    sessions: Sessions,
    settings: Settings,
    cursor: str | None = None,
    status_code: int = 200,
    form: dict[str, Any] | None = None,
    form_error: str | None = None,
) -> HTMLResponse:
    after = decode_cursor(cursor, uuid.UUID)

    def read(admin: WebhookAdmin) -> tuple[list[Subscription], dict[uuid.UUID, dict[DeliveryState, int]], Any]:
        found = admin.subscriptions(after=after, limit=PAGE + 1)
        return found, admin.delivery_counts([s.id for s in found[:PAGE]]), admin.unfinished()

    found, counts, unfinished = _webhooks(sessions, settings, read)
    subscriptions = found[:PAGE]
    next_cursor = encode_cursor(str(subscriptions[-1].id)) if len(found) > PAGE else None
    return page(
        request,
        "webhooks.html",
        "webhooks",
        status_code,
        subscriptions=subscriptions,
        counts=counts,
        unfinished=unfinished,
        event_types=EVENT_TYPES,
        form=form or {"url": "", "event_types": [], "description": ""},
        form_error=form_error,
        next_url=f"/console/webhooks?{urlencode({'cursor': next_cursor})}" if next_cursor else None,
        first_url="/console/webhooks" if cursor else None,
    )


@router.post("/webhooks")
def create_webhook(
    request: Request,
    sessions: Sessions,
    settings: Settings,
    caller: Caller,
    url: Annotated[str, Form(max_length=MAX_URL_LENGTH + 100)] = "",
    event_type: Annotated[list[str] | None, Form(max_length=20)] = None,
    description: Annotated[str, Form(max_length=500)] = "",
) -> HTMLResponse:
    """A new subscription; its secret is shown on the answer, this once (never in a URL, never stored readable)."""
    chosen = event_type or []
    form = {"url": url, "event_types": chosen, "description": description}
    problem = _subscription_form_error(url.strip(), chosen)
    if problem is None:
        try:
            subscription, secret = _webhooks(
                sessions,
                settings,
                lambda admin: admin.create(
                    url=url.strip(), event_types=chosen, description=description.strip() or None, created_by=caller.id
                ),
            )
        except WebhookUrlRefused as exc:
            problem = f"URL: {exc}."
    if problem is not None:
        return _webhooks_page(request, sessions, settings, status_code=422, form=form, form_error=problem)
    log.info("webhook subscription created", extra={"subscription_id": str(subscription.id), "principal": caller.id})
    answer = _subscription_page(request, sessions, settings, subscription.id, None, status_code=201, secret=secret)
    answer.headers["Cache-Control"] = "no-store"  # the secret must not stay in a cache
    return answer


def _subscription_form_error(url: str, event_types: list[str]) -> str | None:
    if not url:
        return "URL: enter the address deliveries are POSTed to."
    if not event_types:
        return "Event types: choose at least one."
    unknown = sorted(set(event_types) - set(EVENT_TYPES))
    if unknown:
        return f"Event types: {', '.join(unknown)[:200]} is not one of {', '.join(EVENT_TYPES)}."
    return None


@router.get("/webhooks/{subscription_id}")
def subscription_page(
    request: Request, subscription_id: uuid.UUID, sessions: Sessions, settings: Settings, cursor: str | None = None
) -> HTMLResponse:
    """A subscription and its deliveries, newest first, each with its attempts; keyset paging."""
    return _subscription_page(request, sessions, settings, subscription_id, cursor)


def _subscription_page(
    request: Request,
    sessions: Sessions,
    settings: Settings,
    subscription_id: uuid.UUID,
    cursor: str | None,
    status_code: int = 200,
    secret: str | None = None,
) -> HTMLResponse:
    before = decode_cursor(cursor, uuid.UUID)

    def read(admin: WebhookAdmin) -> tuple[Subscription, list[Delivery], dict[DeliveryState, int]]:
        subscription = admin.subscription(subscription_id)
        deliveries = admin.deliveries(subscription_id, before=before, limit=PAGE + 1)
        return subscription, deliveries, admin.delivery_counts([subscription_id]).get(subscription_id, {})

    try:
        subscription, found, counts = _webhooks(sessions, settings, read)
    except SubscriptionNotFound:
        return page(request, "missing.html", "webhooks", 404, what=f"No webhook subscription {subscription_id}.")
    deliveries = found[:PAGE]
    next_cursor = encode_cursor(str(deliveries[-1].id)) if len(found) > PAGE else None
    base = f"/console/webhooks/{subscription_id}"
    return page(
        request,
        "webhook_subscription.html",
        "webhooks",
        status_code,
        subscription=subscription,
        deliveries=deliveries,
        counts=counts,
        secret=secret,
        next_url=f"{base}?{urlencode({'cursor': next_cursor})}" if next_cursor else None,
        first_url=base if cursor else None,
    )


@router.post("/webhooks/{subscription_id}/test")
def send_test_event(subscription_id: uuid.UUID, sessions: Sessions, settings: Settings, caller: Caller) -> Response:
    try:
        delivery = _webhooks(sessions, settings, lambda admin: admin.send_test(subscription_id))
    except SubscriptionNotFound as exc:
        return back_to("/console/webhooks", notice=f"Not done: {exc}")
    log.info(
        "webhook test requested",
        extra={"subscription_id": str(subscription_id), "delivery_id": str(delivery.id), "principal": caller.id},
    )
    return back_to(f"/console/webhooks/{subscription_id}", notice="Test event queued; it is sent within seconds.")


@router.post("/webhooks/{subscription_id}/deactivate")
def deactivate_webhook(subscription_id: uuid.UUID, sessions: Sessions, settings: Settings, caller: Caller) -> Response:
    return _set_active(subscription_id, False, sessions, settings, caller)


@router.post("/webhooks/{subscription_id}/activate")
def activate_webhook(subscription_id: uuid.UUID, sessions: Sessions, settings: Settings, caller: Caller) -> Response:
    return _set_active(subscription_id, True, sessions, settings, caller)


def _set_active(
    subscription_id: uuid.UUID, active: bool, sessions: Sessions, settings: Settings, caller: Caller
) -> Response:
    try:
        _webhooks(sessions, settings, lambda admin: admin.update(subscription_id, active=active))
    except SubscriptionNotFound as exc:
        return back_to("/console/webhooks", notice=f"Not done: {exc}")
    log.info(
        "webhook subscription changed",
        extra={"subscription_id": str(subscription_id), "active": active, "principal": caller.id},
    )
    text = "Active again: waiting deliveries go out." if active else "Deactivated: deliveries wait until it is active."
    return back_to(f"/console/webhooks/{subscription_id}", notice=text)


@router.post("/webhooks/deliveries/{delivery_id}/redeliver")
def redeliver_webhook(delivery_id: uuid.UUID, sessions: Sessions, settings: Settings, caller: Caller) -> Response:
    try:
        delivery = _webhooks(sessions, settings, lambda admin: admin.redeliver(delivery_id))
    except DeliveryNotFound as exc:
        return back_to("/console/webhooks", notice=f"Not done: {exc}")
    log.info(
        "webhook redelivery requested",
        extra={"delivery_id": str(delivery_id), "webhook_id": delivery.event_id, "principal": caller.id},
    )
    return back_to(
        f"/console/webhooks/{delivery.subscription_id}", notice="Redelivery queued: the same body and webhook-id."
    )


def letter_id(letter: DeadLetter) -> str:
    return f"{letter.partition}:{letter.offset}"


templates.env.globals.update(letter_id=letter_id)
