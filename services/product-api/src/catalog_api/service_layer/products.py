"""The API's create: with an idempotency key, a repeat of the same request gets the first response again."""

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from catalog_api.adapters.idempotency import IdempotencyStore, StoredResponse
from catalog_core.domain.model import Product
from catalog_core.domain.products import ProductDraft
from catalog_core.service_layer.catalog import ProductCatalog


@dataclass(frozen=True)
class Created:
    """The answer to a create: `product` is None when the answer is a replay of the first one."""

    response: StoredResponse
    product: Product | None


def create_product(
    catalog: ProductCatalog,
    draft: ProductDraft,
    headers: Callable[[Product], dict[str, str]],
    idempotency_key: str | None = None,
    ttl: timedelta = timedelta(hours=24),
) -> Created:
    """Create `draft` in one transaction; `headers` are the new product's response headers.

    With `idempotency_key` (already scoped to the writer), the response is stored in the same transaction, and a
    request that repeats the key with the same draft within `ttl` gets that response instead of a second product;
    the same key with another draft raises `IdempotencyKeyReused`.
    """
    with catalog.session.begin():
        store = IdempotencyStore(catalog.session, ttl)
        if idempotency_key is not None:
            stored = store.claim(idempotency_key, hashlib.sha256(draft.model_dump_json().encode()).hexdigest())
            if stored is not None:
                return Created(stored, None)
        product, snapshot = catalog.create(draft)
        response = StoredResponse(201, snapshot, headers(product))
        if idempotency_key is not None:
            store.complete(idempotency_key, response)
    return Created(response, product)
