"""Enrichment rules: what the enricher derives from a product's core fields, as pure functions."""

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from types import MappingProxyType
from typing import Any

from catalog_enricher.domain.facts import ProductFacts, fold, words
from catalog_enricher.domain.taxonomy import Taxonomy

MAX_KEYWORDS = 30
MAX_KEYWORD_LENGTH = 40
MAX_SLUG_LENGTH = 80
# Bumped whenever the rules or taxonomy.json change what they derive: older enrichments are refreshed at low priority.
RULES_VERSION = 1

# Recommended beyond the required core fields: a product missing any of them is findable but sells worse (no brand
# facet, nothing to read, nothing to see, no filters, no place in the navigation). Variants are not recommended
# because many products legitimately have none.
RECOMMENDED_FIELDS: tuple[str, ...] = ("brand", "description", "images", "attributes", "category")

# Words that carry no meaning on their own, in the catalog's languages (English, German, French). Matched after
# folding, hence "fur" for "für".
_STOP_WORDS = """
    a an and are as at be but by for from has have in into is it its of on or our so than that the their this to
    too very was we were with without you your
    auf aus bei das dem den der des die ein eine einem einen einer es fur im in ist mit oder und von zu zum zur
    au aux avec ce ces dans du elle en est et il la le les leur ou par pas pour sa ses son sur un une
"""
STOP_WORDS: frozenset[str] = frozenset(_STOP_WORDS.split())

_ASCII_WORD = re.compile(r"[a-z0-9]+")


@dataclass(frozen=True)
class Completeness:
    """How many of the recommended fields a product has (score 0..1), and which ones it lacks."""

    score: float
    missing: tuple[str, ...]


@dataclass(frozen=True)
class EnrichmentResult:
    """The fields the enricher derives from one version of a product's core fields."""

    product_id: str
    computed_from_version: int
    keywords: tuple[str, ...]
    slug: str
    category: str | None
    price_band: str
    completeness: Completeness
    degraded: tuple[str, ...] = ()  # parts made without the provider (it was unavailable): `keywords`

    def to_event_data(self, revision: int | None = None) -> dict[str, Any]:
        """The data of a product.enriched event (JSON-ready); `revision`: the store's count of results saved for
        the product, which orders two results of the same version."""
        data: dict[str, Any] = {
            "id": self.product_id,
            "version": self.computed_from_version,
            "keywords": list(self.keywords),
            "slug": self.slug,
            "category": self.category,
            "price_band": self.price_band,
            "completeness": {"score": self.completeness.score, "missing": list(self.completeness.missing)},
        }
        if revision is not None:
            data["revision"] = revision
        if self.degraded:  # only when something is: the webhooks service announces it as enrichment_degraded
            data["degraded"] = list(self.degraded)
        return data


def _is_keyword(word: str) -> bool:
    if word in STOP_WORDS or word.isdigit() or len(word) > MAX_KEYWORD_LENGTH:
        return False
    # A single Latin letter or digit is noise; a single CJK character is often a whole word.
    return len(word) > 1 or not word.isascii()


def extract_keywords(facts: ProductFacts, extra: Sequence[str] = ()) -> tuple[str, ...]:
    """Up to MAX_KEYWORDS distinct folded words of a product, most telling first, stop words and numbers dropped."""
    # Order of the sources is order of importance, so the bound cuts the description first: name, brand, attributes,
    # a provider's extras (synonyms of the former), then the free-text description.
    sources: Iterable[str] = (
        facts.name,
        facts.brand or "",
        *facts.attribute_texts(),
        *extra,
        facts.description or "",
    )
    keywords: dict[str, None] = {}  # a dict keeps first-seen order
    for text in sources:
        for word in words(text):
            if word not in keywords and _is_keyword(word):
                keywords[word] = None
                if len(keywords) == MAX_KEYWORDS:
                    return tuple(keywords)
    return tuple(keywords)


def _slug_words(text: str) -> list[str]:
    return _ASCII_WORD.findall(fold(text))


def slugify(facts: ProductFacts) -> str:
    """A URL slug of brand and name: ASCII, lower case, hyphen-separated, at most MAX_SLUG_LENGTH, never empty."""
    # A name in a non-Latin script or of symbols only leaves no ASCII words: the SKU still identifies the product.
    name = _slug_words(facts.name) or _slug_words(facts.sku) or ["product"]
    brand = _slug_words(facts.brand or "")
    if brand and f"-{'-'.join(brand)}-" not in f"-{'-'.join(name)}-":
        name = brand + name
    slug = "-".join(name)
    if len(slug) <= MAX_SLUG_LENGTH:
        return slug
    # Cut at a word boundary unless the first word alone is too long.
    cut = slug[: MAX_SLUG_LENGTH + 1].rsplit("-", 1)[0]
    return cut if 0 < len(cut) <= MAX_SLUG_LENGTH else slug[:MAX_SLUG_LENGTH]


# Approximate value of one unit of each currency in EUR. Only good enough to put a price in a coarse band for
# browsing; never use it for pricing, conversion or anything shown as an amount.
EUR_RATES: Mapping[str, Decimal] = MappingProxyType(
    {
        "EUR": Decimal("1"),
        "USD": Decimal("0.92"),
        "GBP": Decimal("1.17"),
        "CHF": Decimal("1.04"),
        "JPY": Decimal("0.0062"),
        "CNY": Decimal("0.13"),
        "CAD": Decimal("0.68"),
        "AUD": Decimal("0.61"),
        "NZD": Decimal("0.56"),
        "SEK": Decimal("0.088"),
        "NOK": Decimal("0.087"),
        "DKK": Decimal("0.134"),
        "PLN": Decimal("0.23"),
        "CZK": Decimal("0.040"),
        "HUF": Decimal("0.0025"),
        "INR": Decimal("0.011"),
        "BRL": Decimal("0.17"),
        "MXN": Decimal("0.050"),
        "KRW": Decimal("0.00068"),
        "HKD": Decimal("0.12"),
        "SGD": Decimal("0.69"),
        "ZAR": Decimal("0.050"),
        "TRY": Decimal("0.028"),
        "AED": Decimal("0.25"),
    }
)

# Upper bounds (exclusive, in EUR) of the bands below "luxury".
PRICE_BANDS_EUR: tuple[tuple[Decimal, str], ...] = (
    (Decimal("25"), "budget"),
    (Decimal("100"), "mid"),
    (Decimal("500"), "premium"),
)
UNKNOWN_CURRENCY_BAND = "mid"


def price_band(price: Decimal, currency: str) -> str:
    """The coarse price band ("budget", "mid", "premium", "luxury") of a price, judged in approximate EUR."""
    rate = EUR_RATES.get(currency.upper())
    if rate is None:
        # Without a rate any band could be off by orders of magnitude; the middle one misleads facets the least.
        return UNKNOWN_CURRENCY_BAND
    in_eur = price * rate
    for ceiling, band in PRICE_BANDS_EUR:
        if in_eur < ceiling:
            return band
    return "luxury"


def _has_value(value: object) -> bool:
    if isinstance(value, str):
        return bool(value.strip())
    if isinstance(value, list | tuple):
        return any(_has_value(item) for item in value)
    return value is not None  # numbers and booleans (false included) are information


def completeness(facts: ProductFacts, category: str | None) -> Completeness:
    """The share of RECOMMENDED_FIELDS a product has (rounded to 2 decimals) and the missing ones, in that order."""
    present = {
        "brand": bool(words(facts.brand or "")),
        "description": bool(words(facts.description or "")),
        "images": bool(facts.images),
        "attributes": any(_has_value(value) for value in facts.attributes.values()),
        "category": category is not None,
    }
    missing = tuple(field for field in RECOMMENDED_FIELDS if not present[field])
    score = round((len(RECOMMENDED_FIELDS) - len(missing)) / len(RECOMMENDED_FIELDS), 2)
    return Completeness(score=score, missing=missing)


def enrich(
    facts: ProductFacts, taxonomy: Taxonomy, extra_keywords: Sequence[str] = (), degraded: Sequence[str] = ()
) -> EnrichmentResult:
    """Everything the enricher derives from one version of a product; `degraded`: the parts made without the
    provider."""
    category = taxonomy.classify(facts)
    return EnrichmentResult(
        product_id=facts.id,
        computed_from_version=facts.version,
        keywords=extract_keywords(facts, extra_keywords),
        slug=slugify(facts),
        category=category,
        price_band=price_band(facts.price, facts.currency),
        completeness=completeness(facts, category),
        degraded=tuple(degraded),
    )
