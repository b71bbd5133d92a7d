"""What the product API's routes depend on: typed aliases (`Annotated[T, Depends(provider)]`) and their providers.

The composition root (`create_app`) builds the app's parts once and puts them on `app.state` with `install`; the
providers hand them to each request. A test replaces any provider with
`app.dependency_overrides[provider] = replacement`; providers that others build on (settings, the session factory,
the outbox writer) are resolved through the overridable ones, so replacing `get_settings` also changes the write
keys and the page-size bound.

Providers that only read state are `async def`: they run on the event loop instead of taking a worker thread.
"""

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated

from fastapi import Depends, FastAPI, Header, Query, Request
from sqlalchemy.orm import Session, sessionmaker

from catalog_api.entrypoints.auth import writer_key
from catalog_api.service_layer.imports import ImportRequests
from catalog_api.settings import ApiSettings
from catalog_core.service_layer.catalog import ProductCatalog
from catalog_http.bounds import at_most
from catalog_kit.envelope import valid_traceparent
from catalog_kit.object_store import ObjectStore
from catalog_kit.outbox import OutboxWriter

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


def install(app: FastAPI, wiring: Wiring) -> None:
    app.state.wiring = wiring


def _wiring(request: Request) -> Wiring:
    wiring = getattr(request.app.state, "wiring", None)
    if not isinstance(wiring, Wiring):
        raise RuntimeError("the app was not built by create_app(): no wiring on app.state")
    return wiring


async def get_settings(request: Request) -> ApiSettings:
    return _wiring(request).settings


async def get_sessions(request: Request) -> sessionmaker[Session]:
    """The session factory, for work in a transaction of its own (e.g. after an upload was streamed)."""
    return _wiring(request).sessions


async def get_outbox(request: Request) -> OutboxWriter:
    return _wiring(request).outbox


async def get_object_store(request: Request) -> ObjectStore:
    return _wiring(request).store


async def get_staging(request: Request) -> ObjectStore:
    return _wiring(request).staging


Settings = Annotated[ApiSettings, Depends(get_settings)]
Sessions = Annotated[sessionmaker[Session], Depends(get_sessions)]
Outbox = Annotated[OutboxWriter, Depends(get_outbox)]
Store = Annotated[ObjectStore, Depends(get_object_store)]
Staging = Annotated[ObjectStore, Depends(get_staging)]


def get_db_session(sessions: Sessions) -> Iterator[Session]:
    """One session per request, closed when the response is done."""
    with sessions() as session:
        yield session


DbSession = Annotated[Session, Depends(get_db_session)]


async def get_traceparent(request: Request) -> str | None:
    """The request's W3C `traceparent` if it is well-formed (carried into the events the request causes)."""
    return valid_traceparent(request.headers.get("traceparent"))


Traceparent = Annotated[str | None, Depends(get_traceparent)]


async def get_catalog(session: DbSession, outbox: Outbox, traceparent: Traceparent) -> ProductCatalog:
    return ProductCatalog(session, outbox, traceparent)


Catalog = Annotated[ProductCatalog, Depends(get_catalog)]


async def get_import_requests(session: DbSession, outbox: Outbox) -> ImportRequests:
    """Import jobs, read in the request's session."""
    return ImportRequests(session, outbox)


Imports = Annotated[ImportRequests, Depends(get_import_requests)]


async def get_writer_key(settings: Settings, authorization: Annotated[str | None, Header()] = None) -> str:
    """The caller's principal (a digest of its bearer key) if it may write; 401 otherwise."""
    return writer_key(authorization, settings.write_keys())


WriterKey = Annotated[str, Depends(get_writer_key)]


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
