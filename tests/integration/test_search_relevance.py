"""Relevance in a crowded catalog: thousands of similar products (the same brands, names built from the same
words), and shoppers' queries whose expected first hit is known. Asserts rank positions, never times.

The catalog goes into a real search index (the same adapter the search API reads) with the enricher's real keywords,
synonyms and categories. `test_recall` prints recall@1 and recall@10 over the whole query set.
"""

import asyncio
import random
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from catalog_enricher.adapters.provider import LocalProvider
from catalog_enricher.domain.facts import ProductFacts
from catalog_enricher.domain.rules import enrich
from catalog_enricher.domain.taxonomy import Taxonomy
from catalog_indexer.adapters.search_index import IndexedProduct, IndexGenerations, SearchIndex
from catalog_indexer.domain.search_query import SearchQuery

CROWD = 4000
BRANDS = ("Brisa", "Kestrel", "Nordwind", "Lumière", "Oakridge", "Tidewater", "Marlow", "Vantaa", "Solace", "Bergmann")
# Model names from these syllables cannot spell any planted word below, so a planted word is unique to its product.
SYLLABLES = ("ka", "lo", "ven", "tar", "mi", "ro", "sa", "del", "fin", "zu", "bra", "no", "vik", "ta", "lu")
KINDS = {
    "Sweater": ("Merino", "Wool", "Cashmere", "Cotton"),
    "Jumper": ("Merino", "Wool", "Lambswool"),
    "Hoodie": ("Cotton", "Fleece", "Organic Cotton"),
    "Tee": ("Cotton", "Linen", "Organic Cotton"),
    "Mug": ("Stoneware", "Ceramic", "Enamel", "Porcelain"),
    "Scented Candle": ("Soy Wax", "Beeswax", "Rapeseed Wax"),
    "Frying Pan": ("Cast Iron", "Stainless Steel", "Carbon Steel"),
    "Table Lamp": ("Brass", "Ceramic", "Glass"),
    "Pendant Lamp": ("Brass", "Rattan", "Glass"),
    "Floor Lamp": ("Brass", "Oak", "Steel"),
}
ADJECTIVES = ("Classic", "Relaxed", "Nordic", "Essential", "Vintage", "Modern", "Large", "Everyday")


@dataclass(frozen=True)
class Plant:
    """A product put into the crowd on purpose: what a query is expected to find."""

    key: str
    name: str
    brand: str
    completeness: float = 0.5
    thumbnail: bool = False
    description: str | None = None
    sku: str | None = None
    variants: tuple[str, ...] = ()


PLANTS = (
    Plant("brisa-mug", "Classic Stoneware Mug", "Brisa", completeness=0.3),
    Plant("brisa-flagship", "Signature Merino Sweater", "Brisa", completeness=1.0, thumbnail=True),
    Plant("candle-flagship", "Amber Soy Wax Scented Candle", "Tidewater", completeness=1.0, thumbnail=True),
    Plant("lamp-flagship", "Aurora Brass Floor Lamp", "Marlow", completeness=1.0, thumbnail=True),
    Plant("velmora", "Velmora Fleece Hoodie", "Kestrel", completeness=0.4),
    Plant("orvieto", "Orvieto Rattan Pendant Lamp", "Lumière", completeness=0.4),
    Plant("creme", "Crème Brûlée Scented Candle", "Solace", completeness=0.4),
    Plant("sondergaard", "Nordic Oak Floor Lamp", "Søndergaard", completeness=0.9, thumbnail=True),
    Plant("cyrillic", "Льняной свитер Аврора", "Светлица", completeness=0.5),
    Plant("greek", "Κούπα Ήλιος", "Αθηνά", completeness=0.5),
    Plant("cjk", "陶瓷杯 Stoneware Mug", "Oakridge", completeness=0.5),
    Plant("sku", "Everyday Enamel Mug", "Vantaa", sku="MUG-2024", variants=("MUG-2024-L",)),
    Plant("corda", "Corda Linen Tee", "Marlow", completeness=0.1),
    Plant("cordal", "Cordal Linen Tee", "Marlow", completeness=1.0, thumbnail=True),
    Plant("corta", "Corta Linen Tee", "Marlow", completeness=1.0, thumbnail=True),
    Plant("walnut", "Walnut Table Lamp", "Nordwind", completeness=0.2),
    Plant("fjord", "Fjord Merino Jumper", "Bergmann", completeness=0.4),
    Plant("brisa-caps", "Heavyweight Cotton Tee", "BRISA", completeness=0.2),
)

# (query, expected first hit): brand + noun, brand only, category only, typos (a transposition in a long and in a
# short word), partial words, one unknown word, accents both ways, non-Latin names, SKUs, synonyms.
EXPECTED_FIRST: tuple[tuple[str, str], ...] = (
    ("brisa mug", "brisa-mug"),
    ("Brisa stoneware mug", "brisa-mug"),
    ("brisa", "brisa-flagship"),
    ("BRISA", "brisa-flagship"),
    ("candles", "candle-flagship"),
    ("velmora", "velmora"),
    ("velmroa", "velmora"),
    ("vlemora hoodie", "velmora"),
    ("lmap orvieto", "orvieto"),
    ("lmap", "lamp-flagship"),
    ("velmo", "velmora"),
    ("orvi pendant", "orvieto"),
    ("orvieto pendant lamp xyz", "orvieto"),
    ("pendant lamp orvieto qqqq zzzz", "orvieto"),
    ("lumiere orvieto", "orvieto"),
    ("creme brulee candle", "creme"),
    ("crème brûlée", "creme"),
    ("sondergaard", "sondergaard"),
    ("Søndergaard lamp", "sondergaard"),
    ("аврора", "cyrillic"),
    ("авроар свитер", "cyrillic"),
    ("светлица", "cyrillic"),
    ("ήλιος", "greek"),
    ("ηλιος κουπα", "greek"),
    ("陶瓷杯", "cjk"),
    ("MUG-2024", "sku"),
    ("mug-2024-l", "sku"),
    ("corda", "corda"),
    ("walnut", "walnut"),
    ("pullover fjord", "fjord"),
    ("fjord sweater", "fjord"),
)


def model_name(rng: random.Random) -> str:
    return "".join(rng.choice(SYLLABLES) for _ in range(rng.choice((2, 3)))).capitalize()


def snapshot(rng: random.Random, n: int, plant: Plant | None, now: datetime) -> dict[str, Any]:
    if plant is None:
        kind = rng.choice(list(KINDS))
        name = f"{model_name(rng)} {rng.choice(ADJECTIVES)} {rng.choice(KINDS[kind])} {kind}"
        brand = rng.choice(BRANDS)
        if kind == "Mug" and brand == "Brisa":  # Brisa's one mug is planted: a brand + noun query must find it
            brand = "Kestrel"
        # Every fifth product mentions walnut, and some mention lamps and candles, in the description only.
        extra = rng.choice((" Pairs well with a walnut side table.", " Shown beside a pendant lamp.", "", "", ""))
        description = f"The {name} by {brand}, made to last.{extra}"
    else:
        name, brand = plant.name, plant.brand
        description = plant.description or f"The {name} by {brand}."
    sku = plant.sku if plant and plant.sku else f"REL-{n:05d}"
    return {
        "id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "sku": sku,
        "name": name,
        "brand": brand,
        "description": description,
        "price": "29.90",
        "currency": "EUR",
        "attributes": {},
        "images": [],
        "status": "active",
        "variants": [{"sku": v} for v in (plant.variants if plant else ())],
        "version": 1,
        "created_at": (now - timedelta(minutes=n)).isoformat(),
        "updated_at": now.isoformat(),
    }


def indexed(data: dict[str, Any], completeness: float, thumbnail: bool, taxonomy: Taxonomy) -> IndexedProduct:
    """The product as the read model holds it once the enricher has derived its keywords, synonyms and category."""
    facts = ProductFacts.from_snapshot(data)
    synonyms = asyncio.run(LocalProvider().lookup(facts)).keywords
    enriched = enrich(facts, taxonomy, synonyms)
    return IndexedProduct(
        product_id=data["id"],
        sku=data["sku"],
        skus=[v["sku"] for v in data["variants"]],
        name=data["name"],
        brand=data["brand"],
        description=data["description"],
        price=float(data["price"]),
        price_text=data["price"],
        currency=data["currency"],
        status=data["status"],
        created_at=datetime.fromisoformat(data["created_at"]),
        core_version=1,
        enrichment_version=1,
        enrichment_degraded=False,
        keywords=enriched.keywords,
        category=enriched.category,
        completeness=completeness,
        thumbnail_url="https://img.example/t.webp" if thumbnail else None,
    )


@dataclass
class Catalog:
    index: SearchIndex
    ids: dict[str, str]  # plant key -> product id

    def ranks(self, text: str, **filters: Any) -> list[str]:
        """The plant keys (or "-" for crowd products) of the first 10 hits, in order."""
        by_id = {pid: key for key, pid in self.ids.items()}
        hits = self.index.search(SearchQuery(text=text, limit=10, **filters)).hits
        return [by_id.get(h.id, "-") for h in hits]


@pytest.fixture(scope="module")
def catalog(tmp_path_factory: pytest.TempPathFactory) -> Catalog:
    rng = random.Random(14)
    now = datetime.now(UTC)
    taxonomy = Taxonomy.default()
    products: list[IndexedProduct] = []
    ids: dict[str, str] = {}
    for n in range(CROWD):
        completeness = round(rng.uniform(0.2, 0.8), 2)  # planted flagships stand above every crowd product
        products.append(indexed(snapshot(rng, n, None, now), completeness, rng.random() < 0.3, taxonomy))
    for n, plant in enumerate(PLANTS, start=CROWD):
        product = indexed(snapshot(rng, n, plant, now), plant.completeness, plant.thumbnail, taxonomy)
        ids[plant.key] = product.product_id
        products.insert(rng.randrange(len(products)), product)
    root: Path = tmp_path_factory.mktemp("relevance-index")
    generations = IndexGenerations(root)
    writer = generations.start_new()
    for offset in range(0, len(products), 1000):
        writer.apply(products[offset : offset + 1000], [], offset + 1000, "relevance")
    writer.close()
    generations.publish(writer.path)
    return Catalog(SearchIndex(root), ids)


@pytest.mark.parametrize(("text", "expected"), EXPECTED_FIRST)
def test_the_expected_product_ranks_first(catalog: Catalog, text: str, expected: str) -> None:
    ranks = catalog.ranks(text)
    assert ranks[:1] == [expected], (text, ranks)


def test_exact_words_rank_above_prefixes_and_prefixes_above_typos(catalog: Catalog) -> None:
    ranks = catalog.ranks("corda")
    # Cordal and Corta are the most complete products of the three; the exact word still wins, then the prefix.
    assert ranks[:3] == ["corda", "cordal", "corta"]


def test_the_name_outranks_the_description(catalog: Catalog) -> None:
    result = catalog.index.search(SearchQuery(text="walnut", limit=5))
    assert result.total > 500  # the crowd mentions walnut in descriptions
    assert result.hits[0].id == catalog.ids["walnut"]
    assert (result.hits[0].score or 0.0) > (result.hits[1].score or 0.0)


def test_one_unknown_word_leaves_the_products_matching_the_others(catalog: Catalog) -> None:
    with_unknown = catalog.index.search(SearchQuery(text="pendant lamp xyz", limit=5))
    without = catalog.index.search(SearchQuery(text="pendant lamp", limit=5))
    assert with_unknown.total >= without.total > 0
    assert [h.id for h in with_unknown.hits] == [h.id for h in without.hits]


def test_every_word_matching_ranks_above_most_words(catalog: Catalog) -> None:
    hits = catalog.index.search(SearchQuery(text="brisa stoneware mug", limit=50)).hits
    scores = [h.score or 0.0 for h in hits]
    assert hits[0].id == catalog.ids["brisa-mug"]
    assert scores[0] >= 300 > scores[1]  # three words matched, the next at most two


def test_filters_and_facets_ignore_case_and_accents(catalog: Catalog) -> None:
    def total(**filters: Any) -> int:
        return catalog.index.search(SearchQuery(text=None, **filters)).total

    assert total(brand="Brisa") == total(brand="brisa") == total(brand="BRISA") > 1
    assert total(brand="Lumière") == total(brand="lumiere") == total(brand="LUMIERE") > 1
    assert total(brand="søndergaard") == total(brand="Søndergaard") == 1
    category = "home-kitchen/decor/candles"
    assert total(category=category) == total(category=category.upper()) > 1
    brands = catalog.index.search(SearchQuery(text="brisa")).facets["brand"]
    brisa = [b for b in brands if b["value"].lower() == "brisa"]
    assert len(brisa) == 1  # "Brisa" and "BRISA" are one brand
    assert brisa[0]["value"] == "Brisa"  # named by its most common spelling
    assert brisa[0]["count"] == total(brand="brisa")


def test_recall(catalog: Catalog) -> None:
    at_1 = at_10 = 0
    for text, expected in EXPECTED_FIRST:
        ranks = catalog.ranks(text)
        at_1 += ranks[:1] == [expected]
        at_10 += expected in ranks
    count = len(EXPECTED_FIRST)
    print(f"\nrelevance set: {count} queries, recall@1 {at_1 / count:.2f}, recall@10 {at_10 / count:.2f}")
    assert at_10 == count
