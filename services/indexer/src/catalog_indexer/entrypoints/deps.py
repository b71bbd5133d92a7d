"""What the search API's routes depend on: typed aliases (`Annotated[T, Depends(provider)]`) and their providers.

The composition root (`search_api.create_app`) puts the settings, the read model's engine and the search index on
`app.state` with `install`; a test replaces any provider with `app.dependency_overrides[provider] = replacement`.
"""

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, FastAPI, Request
from sqlalchemy import Engine

from catalog_http.wiring import install_wiring, wiring_of
from catalog_indexer.adapters.search_index import SearchIndex
from catalog_indexer.settings import IndexerSettings
from catalog_kit.enrichment_requests import EnrichmentRequests


@dataclass(frozen=True)
class Wiring:
    """The parts one app shares between its requests, built by the composition root."""

    settings: IndexerSettings
    engine: Engine
    index: SearchIndex
    pending_hits: EnrichmentRequests | None = None  # None: searches report nothing to the enricher


def install(app: FastAPI, wiring: Wiring) -> None:
    install_wiring(app, wiring)


def _wiring(request: Request) -> Wiring:
    return wiring_of(request, Wiring)


async def get_settings(request: Request) -> IndexerSettings:
    return _wiring(request).settings


async def get_engine(request: Request) -> Engine:
    """The engine of the database holding the read model (`search.documents`)."""
    return _wiring(request).engine


async def get_index(request: Request) -> SearchIndex:
    """The search index derived from the read model, where queries are answered."""
    return _wiring(request).index


async def get_pending_hits(request: Request) -> EnrichmentRequests | None:
    """Where a search notes the products it found while their enrichment was pending."""
    return _wiring(request).pending_hits


Settings = Annotated[IndexerSettings, Depends(get_settings)]
ReadModel = Annotated[Engine, Depends(get_engine)]
Index = Annotated[SearchIndex, Depends(get_index)]
PendingReports = Annotated[EnrichmentRequests | None, Depends(get_pending_hits)]
