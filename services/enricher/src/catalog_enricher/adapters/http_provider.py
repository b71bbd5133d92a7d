"""An enrichment provider over HTTP: product facts in, keywords, attributes and category hints out.

The contract (docs/search-and-enrichment.md#the-http-provider): `POST <PROVIDER_URL>` with
`{"product": {id, version, sku, name, brand, description, attributes, price, currency}}`; a 200 answers
`{"keywords": [..], "attributes": {..}, "category_hints": [..]}` (every member optional). 429 and 503 may carry
`Retry-After` (seconds or an HTTP date). Calls go through the platform's outbound policy.
"""

import asyncio
import json
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

from pydantic import BaseModel, Field, ValidationError

from catalog_enricher.adapters.provider import ProviderResult, ProviderThrottled
from catalog_enricher.domain.facts import ProductFacts
from catalog_kit.outbound import OutboundClient, read_body

MAX_RESPONSE_BYTES = 256 * 1024


class ProviderFailed(Exception):
    """The provider answered, but not with a result: a 5xx, an unexpected status or a body outside the contract."""


class _Answer(BaseModel):
    keywords: list[str] = Field(default_factory=list, max_length=100)
    attributes: dict[str, str] = Field(default_factory=dict, max_length=100)
    category_hints: list[str] = Field(default_factory=list, max_length=20)


def retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds a `Retry-After` header asks to wait (delta-seconds or an HTTP date); None if absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def request_body(facts: ProductFacts) -> bytes:
    product: dict[str, Any] = {
        "id": facts.id,
        "version": facts.version,
        "sku": facts.sku,
        "name": facts.name,
        "brand": facts.brand,
        "description": facts.description,
        "attributes": dict(facts.attributes),
        "price": str(facts.price),
        "currency": facts.currency,
    }
    return json.dumps({"product": product}, separators=(",", ":"), default=str).encode()


class HttpProvider:
    """Looks products up at `url`, one call per lookup (the rate limit is the `ResilientProvider`'s permit)."""

    name = "http"

    def __init__(
        self,
        client: OutboundClient,
        url: str,
        *,
        deadline_s: float,
    ) -> None:
        self._client = client
        self._url = url
        self._deadline_s = deadline_s

    async def lookup(self, facts: ProductFacts) -> ProviderResult:
        return await asyncio.to_thread(self._call, request_body(facts))

    def _call(self, body: bytes) -> ProviderResult:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        with self._client.stream("POST", self._url, deadline_s=self._deadline_s, headers=headers, content=body) as r:
            if r.status_code == 429 or (r.status_code == 503 and "retry-after" in r.headers):
                raise ProviderThrottled(r.status_code, retry_after(r.headers.get("retry-after")))
            if r.status_code != 200:
                raise ProviderFailed(f"HTTP {r.status_code}")
            raw = read_body(r, MAX_RESPONSE_BYTES)
        try:
            answer = _Answer.model_validate_json(raw)
        except ValidationError as exc:
            raise ProviderFailed(f"answer outside the contract: {exc.errors()[0]['loc']}") from exc
        # Category hints are words a shopper might use too; attributes are read but not used yet.
        return ProviderResult(keywords=tuple(dict.fromkeys([*answer.keywords, *answer.category_hints])))
