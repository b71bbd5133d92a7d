"""A search request as the read model understands it: validated, normalised, independent of HTTP."""

from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

Sort = Literal["relevance", "newest", "price_asc", "price_desc"]


@dataclass(frozen=True)
class SearchQuery:
    text: str | None
    brand: str | None = None
    category: str | None = None
    price_min: Decimal | None = None
    price_max: Decimal | None = None
    status: str | None = "active"
    sort: Sort = "relevance"
    page: int = 1
    limit: int = 20

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.limit

    @property
    def effective_sort(self) -> Sort:
        """Relevance needs a text query; without one, newest first."""
        return "newest" if self.sort == "relevance" and not self.text else self.sort
