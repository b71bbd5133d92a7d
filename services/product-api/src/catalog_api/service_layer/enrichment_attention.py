"""A product read through the API while its enrichment waits jumps the enricher's queue (priority `critical`)."""

import threading
from collections.abc import Callable

from sqlalchemy.orm import Session

from catalog_api.adapters.enrichment_overview import enrichment_pending
from catalog_kit.enrichment_requests import EnrichmentRequests

IsPending = Callable[[str, int], bool]  # product id, version viewed -> its enrichment waits


def pending_in(sessions: Callable[[], Session]) -> IsPending:
    def is_pending(product_id: str, version: int) -> bool:
        with sessions() as session:
            return enrichment_pending(session, product_id, version)

    return is_pending


class ViewedProducts:
    """Runs after a product view's response. Remembers the versions found enriched (up to `remember` products), so
    a popular product viewed again at the same version costs no lookup; one found pending is reported."""

    def __init__(self, requests: EnrichmentRequests, is_pending: IsPending, remember: int = 100_000) -> None:
        self._requests = requests
        self._is_pending = is_pending
        self._remember = remember
        self._enriched: dict[str, int] = {}
        self._lock = threading.Lock()

    def seen(self, product_id: str, version: int) -> None:
        if self._enriched.get(product_id) == version or self._requests.recently_reported(product_id):
            return
        if not self._is_pending(product_id, version):
            with self._lock:
                if len(self._enriched) >= self._remember:
                    self._enriched.clear()  # bounded memory: forgetting costs a lookup, nothing else
                self._enriched[product_id] = version
        elif self._requests.note([product_id]):
            self._requests.flush()
