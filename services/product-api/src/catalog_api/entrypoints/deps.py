"""What the product API's routes depend on: typed aliases (`Annotated[T, Depends(provider)]`) and their providers.

The composition root (`create_app`) builds the app's parts once and puts them on `app.state` with `install`; the
providers hand them to each request. A test replaces any provider with
`app.dependency_overrides[provider] = replacement`; providers that others build on (settings, the session factory,
the outbox writer) are resolved through the overridable ones, so replacing `get_settings` also changes the
`API_KEYS` keys and the page-size bound.

`authorize` runs for every operation (an app-wide dependency): it looks the operation up in the access table
(`entrypoints/access.py`) and, unless it is public, authenticates the caller and checks the scope. Routes that need
to know who calls take `Caller` (the principal) or `WriterKey` (its id); replacing `authorize` replaces the caller.

Providers that only read state are `async def`: they run on the event loop instead of taking a worker thread.
"""

import secrets
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Annotated

from fastapi import Depends, FastAPI, Query, Request
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from catalog_api.adapters.api_keys import ApiKeys, KeyDigest
from catalog_api.domain.keys import Principal, Scope, stored_key_id
from catalog_api.entrypoints.access import ACCESS, accepts_console_session
from catalog_api.entrypoints.auth import (
    KeyLookup,
    bearer_value,
    check_scope,
    env_principal,
    stored_principal,
    unauthenticated,
)
from catalog_api.entrypoints.console_session import COOKIE, ConsoleSessions, same_origin, session_principal
from catalog_api.entrypoints.problems import Problem
from catalog_api.service_layer.enrichment_attention import ViewedProducts
from catalog_api.service_layer.import_progress import StreamSlots
from catalog_api.service_layer.imports import ImportRequests
from catalog_api.settings import ApiSettings
from catalog_core.service_layer.catalog import ProductCatalog
from catalog_http.access import PUBLIC
from catalog_http.bounds import at_most
from catalog_http.wiring import install_wiring, wiring_of
from catalog_kit.envelope import valid_traceparent
from catalog_kit.object_store import ObjectStore
from catalog_kit.outbox import OutboxWriter
from catalog_kit.tracing import current_traceparent

PAGE_SIZE_DEFAULT = 50


@dataclass(frozen=True)
class Wiring:
    """The parts one app shares between its requests, built by the composition root."""

    settings: ApiSettings
    sessions: sessionmaker[Session]
    outbox: OutboxWriter
    store: ObjectStore
    # Image uploads wait here, outside the shared store, until their type is confirmed and their hash known.
    staging: ObjectStore
    console: ConsoleSessions = field(default_factory=lambda: ConsoleSessions(secrets.token_urlsafe(32), 8 * 3600))
    streams: StreamSlots = field(default_factory=lambda: StreamSlots(100))
    attention: ViewedProducts | None = None  # None: product views report nothing to the enricher


def install(app: FastAPI, wiring: Wiring) -> None:
    install_wiring(app, wiring)


def _wiring(request: Request) -> Wiring:
    return wiring_of(request, Wiring)


async def get_settings(request: Request) -> ApiSettings:
    return _wiring(request).settings


async def get_sessions(request: Request) -> sessionmaker[Session]:
    """The session factory, for work in a transaction of its own (e.g. after an upload was streamed)."""
    return _wiring(request).sessions


async def get_outbox(request: Request) -> OutboxWriter:
    return _wiring(request).outbox


async def get_attention(request: Request) -> ViewedProducts | None:
    """Where a product view notes a product whose enrichment waits."""
    return _wiring(request).attention


async def get_object_store(request: Request) -> ObjectStore:
    return _wiring(request).store


async def get_staging(request: Request) -> ObjectStore:
    return _wiring(request).staging


async def get_console_sessions(request: Request) -> ConsoleSessions:
    return _wiring(request).console


async def get_stream_slots(request: Request) -> StreamSlots:
    return _wiring(request).streams


Settings = Annotated[ApiSettings, Depends(get_settings)]
Sessions = Annotated[sessionmaker[Session], Depends(get_sessions)]
Outbox = Annotated[OutboxWriter, Depends(get_outbox)]
Attention = Annotated[ViewedProducts | None, Depends(get_attention)]
Store = Annotated[ObjectStore, Depends(get_object_store)]
Staging = Annotated[ObjectStore, Depends(get_staging)]
ConsoleSessionsDep = Annotated[ConsoleSessions, Depends(get_console_sessions)]
StreamSlotsDep = Annotated[StreamSlots, Depends(get_stream_slots)]


class LoginRequired(Exception):
    """A browser (no Authorization header) asked for a console page without a session: it is sent to the login."""

    def __init__(self, path: str) -> None:
        super().__init__(path)
        self.path = path


def get_db_session(sessions: Sessions) -> Iterator[Session]:
    """One session per request, closed when the response is done."""
    with sessions() as session:
        yield session


DbSession = Annotated[Session, Depends(get_db_session)]


async def get_traceparent(request: Request) -> str | None:
    """What the events a request causes continue: with traces on, the request's server span (itself a child of a
    well-formed `traceparent` header); with them off, that header as it came."""
    return current_traceparent() or valid_traceparent(request.headers.get("traceparent"))


Traceparent = Annotated[str | None, Depends(get_traceparent)]


async def get_catalog(session: DbSession, outbox: Outbox, traceparent: Traceparent) -> ProductCatalog:
    return ProductCatalog(session, outbox, traceparent)


Catalog = Annotated[ProductCatalog, Depends(get_catalog)]


async def get_key_lookup(sessions: Sessions) -> KeyLookup:
    """How a stored key is found: its live row, read in a short transaction of its own."""

    def lookup(key_id: uuid.UUID) -> KeyDigest | None:
        with sessions() as session:
            return ApiKeys(session).live_digest(key_id)

    return lookup


async def authorize(
    request: Request,
    settings: Settings,
    lookup: Annotated[KeyLookup, Depends(get_key_lookup)],
    console: ConsoleSessionsDep,
) -> Principal | None:
    """What the operation needs (the access table), and whether the caller has it: its principal, None for a
    public operation, or a 401/403 problem. Installed for every route by `create_app`.

    Where the access table accepts the console's session, a request without an Authorization header may present
    the session cookie instead (its state-changing requests only from the console's own origin)."""
    need = ACCESS.required(request)
    if need == PUBLIC:
        return None
    if need is None:  # create_app refuses undecided routes; should one slip through, it is closed, not open
        raise Problem(403, "forbidden", "Forbidden", "no access decision for this operation")
    value = bearer_value(request.headers.get("authorization"))
    principal = None
    if value is not None:
        principal = env_principal(value, settings.env_keys())
        if principal is None and stored_key_id(value) is not None:  # only keys of the stored form cost a query
            principal = await run_in_threadpool(stored_principal, value, lookup)
    presented = "authorization" in request.headers
    if principal is None and not presented and accepts_console_session(request):
        session = console.read(request.cookies.get(COOKIE))
        if session is not None:
            principal = await run_in_threadpool(session_principal, session, settings.env_keys(), lookup)
        if principal is None and request.url.path.startswith("/console"):
            raise LoginRequired(request.url.path)
        if principal is not None and request.method not in ("GET", "HEAD") and not same_origin(request):
            raise Problem(403, "forbidden", "Forbidden", "a console form must be sent from the console's own pages")
    if principal is None:
        raise unauthenticated(presented=presented)
    return check_scope(principal, Scope(need))


async def get_caller(principal: Annotated[Principal | None, Depends(authorize)]) -> Principal:
    """Who calls an operation that needs a key (as `authorize` found, once per request)."""
    if principal is None:
        raise RuntimeError("a public operation asked who calls: give it a scope in entrypoints/access.py")
    return principal


Caller = Annotated[Principal, Depends(get_caller)]


async def get_writer_key(caller: Caller) -> str:
    """The caller's principal id: what import jobs record as `submitted_by` and idempotency keys are scoped by."""
    return caller.id


WriterKey = Annotated[str, Depends(get_writer_key)]


async def get_import_requests(session: DbSession, outbox: Outbox, caller: Caller) -> ImportRequests:
    """Import jobs as the caller may see them (its own; an admin's: every job), read in the request's session."""
    return ImportRequests(session, outbox, owner=caller.owner_filter)


Imports = Annotated[ImportRequests, Depends(get_import_requests)]


async def get_idempotency_ttl(settings: Settings) -> timedelta:
    return timedelta(hours=settings.idempotency_ttl_hours)


IdempotencyTtl = Annotated[timedelta, Depends(get_idempotency_ttl)]


async def get_page_limit(
    settings: Settings,
    limit: Annotated[int, Query(ge=1, description="Page size, at most PAGE_SIZE_MAX")] = PAGE_SIZE_DEFAULT,
) -> int:
    """The `limit` of a paged list: at least 1, at most the `PAGE_SIZE_MAX` setting (else a 422 naming `limit`)."""
    return at_most(limit, settings.page_size_max, "limit")


PageLimit = Annotated[int, Depends(get_page_limit)]
