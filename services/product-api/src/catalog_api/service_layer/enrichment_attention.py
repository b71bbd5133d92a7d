"""A product read through the API while its enrichment waits jumps the enricher's queue (priority `critical`)."""

from collections.abc import Callable

from sqlalchemy.orm import Session

from catalog_api.adapters.enrichment_overview import enrichment_pending
from catalog_kit.enrichment_requests import EnrichmentRequests


def report_if_pending(
    requests: EnrichmentRequests, sessions: Callable[[], Session], product_id: str, version: int
) -> None:
    """Run after the response: look the product up only if it was not reported lately, and report it if pending."""
    if requests.recently_reported(product_id):
        return
    with sessions() as session:
        pending = enrichment_pending(session, product_id, version)
    if pending and requests.note([product_id]):
        requests.flush()
