#!/usr/bin/env python
"""Search benchmark: latency and throughput of `GET /search` over `--products` (100,000; up to 1,000,000) products.

What is measured, in one run against a running stack (`catalog-stack run`):

1. Load (timed, not the result): `--products` generated products go into `search.documents`, the indexer's read
   model. A seeded generator (`--seed`) builds product snapshots as the product API would publish them: names from
   word lists (model name, adjective, material, product type, sometimes a colour) over eight domains, 68 brands
   (some accented), descriptions from templates, EUR prices per domain, attributes, images, 90% active / 7% draft /
   3% archived, created over two years, and ~10% with 1-4 variants (so `skus` holds variant SKUs). Each snapshot
   becomes the same `CorePart` the indexer builds (`CorePart.from_snapshot`) and the `EnrichmentPart` of what the
   enricher would derive (`enrich()` of the enricher's rules and taxonomy: keywords, category, slug, price band,
   completeness); 95% carry the enrichment of their current version, 3% of an older one, 2% none yet.
   The first `--apply-sample` products are written through `SearchDocuments.apply`, one transaction per part (its
   parts/s is printed); the rest through `SearchDocuments.apply_many`, the indexer's batch path, `--batch` parts per
   transaction. Meanwhile the stack's indexer applies the read model's changes to the search index (its
   follower); the script waits until the search API's `/readyz` reports no lag and prints how long the index took
   after the last write, and its rate over the whole load. All SKUs start with `SB<run>-`.
2. Queries (HTTP, the search API, default http://127.0.0.1:$SEARCH_PORT): `--queries` per type, drawn from the loaded
   products: single word; two words; typo (a swapped pair or a missing letter in a name/brand word of 5+ letters
   that exists); SKU (half product SKUs, half variant SKUs); filter + sort (brand / category / price range,
   `sort=price_asc`, no text); broad (a material or adjective shared by thousands of products); browse (no text, no
   filter: every active product, newest first). Every answer carries facets (brand, category) over all matches.
   Each type runs at concurrency 1 and `--concurrency` (closed-loop workers over keep-alive httpx connections),
   after a warm-up of `--warmup` queries per type; a type stops early after `--time-budget` s. Printed per type:
   count, errors, p50 / p99 / max / mean latency, p99 as a share of the target (30 ms at concurrency 1, 100 ms at
   8), queries/s, mean total matches, the search API's CPU per query and how busy the machine's CPUs were. A first
   row sends as many `GET /healthz` (a sync endpoint without the index): the HTTP floor of the API and this client.
   The search API keeps answers until the index's next commit (`SEARCH_RESULT_CACHE`), and this load ends before
   the queries, so repeated queries (every browse, the eight broad words) are answered from that cache. So the
   HTTP phases run twice: as the stack runs, then with the search API restarted with `SEARCH_RESULT_CACHE=0`
   (every query computed; restored afterwards). `--no-uncached` skips the second pass.
3. The same queries without HTTP: `SearchIndex.search()` of this process on the same index, at concurrency 1 — the
   difference to the HTTP figures is the API's overhead (FastAPI, JSON, the thread pool).
4. The read model's row count, table and index sizes, the search index's size on disk and segments, and the search
   API's RSS (VmHWM/VmRSS of the pid in `$CATALOG_STACK_DIR/run/search-api.pid`).

At the end the loaded products are deleted as the platform deletes them (tombstones through `apply_many`, which
the index follows), then their rows (`--keep` keeps them).
The load generator, the API, the indexer and PostgreSQL share this machine.

    export CATALOG_STACK_DIR=$PWD/.local/bench CATALOG_PG_PORT=55446 CATALOG_BROKER_PORT=19106 \\
           API_PORT=8200 SEARCH_PORT=8201
    .venv/bin/catalog-stack run
    .venv/bin/python bench/search.py [--products 1000000] [--queries 200] [--concurrency 8] [--keep]
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import random
import statistics
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import psycopg
from process_stats import machine_cpu, proc_cpu_s, proc_memory_kib
from sqlalchemy.engine import make_url
from stack_access import StackService, find_stack

from catalog_enricher.domain.facts import ProductFacts
from catalog_enricher.domain.rules import enrich
from catalog_enricher.domain.taxonomy import Taxonomy
from catalog_indexer.adapters.read_model import SearchDocuments
from catalog_indexer.adapters.search_index import SearchIndex, current_generation
from catalog_indexer.domain.document import CorePart, EnrichmentPart, Tombstone
from catalog_indexer.domain.search_query import SearchQuery, Sort
from catalog_kit.db import libpq_conninfo, make_engine
from catalog_stack.infra import StackConfig
from catalog_stack.processes import ManagedProcess

REPO = Path(__file__).resolve().parents[1]
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}
HTTP_FLOOR = "GET /healthz"
PRODUCT_IDS = uuid.UUID("5b0f3f8e-1d7c-4a53-9f0e-6c2d8a41b7e2")  # namespace of the generated products' ids


# --- the generated catalog -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Domain:
    name: str
    types: tuple[str, ...]  # product types, spelled as the enricher's taxonomy knows them
    materials: tuple[str, ...]
    adjectives: tuple[str, ...]
    brands: tuple[str, ...]
    price_eur: tuple[float, float]  # typical range; log-uniform within
    coloured: bool
    weight: int  # share of the catalog


def _split(words: str, separator: str = "|") -> tuple[str, ...]:
    return tuple(words.split(separator))


def _domain(name: str, weight: int, prices: tuple[float, float], coloured: bool, *lists: str) -> Domain:
    types, materials, adjectives, brands = (_split(words) for words in lists)
    return Domain(name, types, materials, adjectives, brands, prices, coloured, weight)


# name, weight, EUR price range, coloured; then product types | materials | adjectives | brands
DOMAINS = (
    _domain(
        "apparel",
        30,
        (9, 400),
        True,
        "T-Shirt|Tee|Shirt|Blouse|Sweater|Cardigan|Hoodie|Sweatshirt|Jeans|Trousers|Chinos|Joggers|Shorts|Dress|"
        "Jacket|Parka|Coat|Socks|Cap|Hat",
        "Cotton|Linen|Merino|Wool|Denim|Fleece|Cashmere|Silk|Corduroy|Bamboo|Hemp|Organic Cotton|Jersey|Twill|Flannel",
        "Relaxed|Slim|Oversized|Cropped|Classic|Heavyweight|Lightweight|Vintage|Essential|Tapered|Ribbed|Quilted",
        "Nordwind|Kestrel|Lumière|Oakridge|Tidewater|Bergmann|Solace|Fjällbo|Harbour & Pine|Vantaa|Marlow|Côte Sauvage",
    ),
    _domain(
        "footwear",
        10,
        (25, 350),
        True,
        "Sneakers|Trainers|Running Shoes|Trail Running Shoes|Boots|Chelsea Boots|Ankle Boots|Sandals|Flip-Flops",
        "Leather|Suede|Canvas|Mesh|Knit|Nubuck|Rubber|Recycled",
        "Low-Top|High-Top|Waterproof|Cushioned|Lightweight|Classic|Retro|Minimal",
        "Strider|Alpenrose|Kōbe Works|Runwell|Fieldcraft|Ostara|Pathfinder|Søndergaard",
    ),
    _domain(
        "electronics",
        15,
        (10, 2500),
        False,
        "Headphones|Earbuds|Bluetooth Speaker|Soundbar|Smartphone|Phone Case|Laptop|Mechanical Keyboard|Mouse|"
        "Charger|USB-C Cable|Smartwatch|Fitness Tracker|Camera",
        "Wireless|Noise-Cancelling|Aluminium|Carbon|Silicone|Titanium|Braided|Waterproof",
        "Pro|Ultra|Compact|Portable|Fast|Studio|Mini|Max|Slim|Rugged",
        "Voltara|Sonique|Pixelwerk|Nimbus|Arctis Labs|Quanta|Helix|Brightlane|Zentrix|Orbis",
    ),
    _domain(
        "home",
        15,
        (8, 900),
        True,
        "Frying Pan|Skillet|Coffee Machine|Espresso Machine|Blender|Stand Mixer|Mug|Cup|Duvet Cover|Pillow|"
        "Bath Towel|Hand Towel|Scented Candle",
        "Cast Iron|Stainless Steel|Ceramic|Stoneware|Porcelain|Percale|Organic Cotton|Soy Wax|Enamel|Bamboo|Glass",
        "Nonstick|Handmade|Classic|Modern|Rustic|Nordic|Large|Everyday",
        "Casa Verde|Hearthstone|Kitchenly|Dunmore|Maison Blé|Lindqvist|Potter's Field|Ember & Oak|Ceramico",
    ),
    _domain(
        "beauty",
        10,
        (5, 180),
        False,
        "Face Cream|Serum|Moisturizer|Lipstick|Mascara|Foundation|Shampoo|Conditioner|Hair Oil|Perfume|Eau de Parfum",
        "Vitamin C|Hyaluronic|Argan|Rose|Aloe|Jasmine|Vanilla|Charcoal|Retinol",
        "Hydrating|Gentle|Matte|Volumising|Repairing|Fragrance-Free|Intense|Daily",
        "Belle Rive|Dermaline|Aurélie|Botanica|Velvetine|Purewell|Ōmori|Glowhaus",
    ),
    _domain(
        "sports",
        8,
        (12, 3000),
        False,
        "Yoga Mat|Dumbbell|Kettlebell|Road Bike|Tent|Sleeping Bag|Football|Basketball|Volleyball",
        "Cork|Neoprene|Cast Iron|Carbon|Aluminium|Ripstop|Down|Synthetic",
        "Pro|Training|Ultralight|Adjustable|Competition|Four-Season|Grippy|Foldable",
        "Summitline|Trailborn|Ironclad|Velocita|Zenflow|Basecamp|Kraftwerk Sport",
    ),
    _domain(
        "toys",
        6,
        (6, 150),
        False,
        "Building Set|Doll|Action Figure|Jigsaw Puzzle|Board Game|Plush Toy|Teddy Bear",
        "Wooden|Plush|Recycled|Cardboard|Soft",
        "Classic|Deluxe|Junior|Family|Collector's|Mini|Giant",
        "Brickhaven|Tinker & Co|Wunderwald|Pip Squeak|Playforge|Mondo Bambini",
    ),
    _domain(
        "grocery",
        6,
        (2, 40),
        False,
        "Coffee Beans|Ground Coffee|Espresso|Green Tea|Black Tea|Herbal Tea|Spaghetti|Penne|Fusilli|Olive Oil|"
        "Dark Chocolate|Milk Chocolate|Potato Chips|Tortilla Chips",
        "Organic|Fairtrade|Single-Origin|Wholegrain|Extra Virgin|Sea Salt|Hazelnut|Chili",
        "Artisan|Classic|Italian|Colombian|Ethiopian|Smoky|Bold|Mild",
        "Nonna Lucia|Highland Roast|Terra Oliva|Cacao Reale|Teahouse No. 7|Golden Harvest|Crunchworks|Molino Bianco",
    ),
)
COLOURS = _split(
    "Black|White|Navy|Grey|Olive|Sand|Burgundy|Teal|Rust|Cream|Forest Green|Sky Blue|Charcoal|Mustard|Blush"
)
# Model names: two or three syllables, so the lexicon holds thousands of distinct words as a real catalog's does.
SYLLABLES = _split(
    "ka lo ven tar mi ro sa del fin zu bra no vik ta lu mer o ris an kel po dra sil va ne tor qui bel", " "
)
FEATURES = _split(
    "pre-washed for a soft hand feel|reinforced seams|a recycled-fibre lining|a two-year warranty|easy-care finish|"
    "a water-repellent coating|a gift-ready box|a lifetime guarantee|a certified sustainable supply chain|"
    "a tailored fit|replaceable parts|a compact travel size"
)
SIZES = ("XS", "S", "M", "L", "XL", "XXL")


@dataclass(frozen=True)
class Generated:
    """What the query generator needs to know of one loaded product."""

    sku: str
    variant_skus: tuple[str, ...]
    name: str
    brand: str
    category: str | None
    price: Decimal
    status: str


def model_name(rng: random.Random) -> str:
    return "".join(rng.choice(SYLLABLES) for _ in range(rng.choice((2, 2, 3)))).capitalize()


def snapshot(rng: random.Random, sku_prefix: str, n: int, now: datetime) -> dict[str, Any]:
    """A product snapshot as `product.created` / `product.updated` carry it."""
    domain = rng.choices(DOMAINS, weights=[d.weight for d in DOMAINS])[0]
    kind, material = rng.choice(domain.types), rng.choice(domain.materials)
    adjective, brand = rng.choice(domain.adjectives), rng.choice(domain.brands)
    colour = rng.choice(COLOURS) if domain.coloured else None
    parts = [model_name(rng)] if rng.random() < 0.7 else []
    parts += [adjective] if rng.random() < 0.6 else []
    parts += [material, kind]
    name = " ".join(parts) + (f" - {colour}" if colour and rng.random() < 0.5 else "")
    low, high = domain.price_eur
    price = Decimal(str(round(math.exp(rng.uniform(math.log(low), math.log(high)))))) - Decimal(
        rng.choice(("0.01", "0.05", "0.10", "0.00"))
    )
    price = max(price, Decimal("0.99"))
    description = (
        f"The {name} by {brand} is made of {material.lower()}"
        + (f" in {colour.lower()}" if colour else "")
        + f", with {rng.choice(FEATURES)} and {rng.choice(FEATURES)}. "
        + rng.choice(
            (
                f"A {adjective.lower()} {kind.lower()} for every day.",
                f"Designed in-house and tested for {rng.randint(2, 10)} months before release.",
                "Ships in plastic-free packaging.",
                "",
            )
        )
    ).strip()
    sku = f"{sku_prefix}-{n:06d}"
    variants = []
    if rng.random() < 0.10:
        options = rng.sample(SIZES, rng.randint(1, 4))
        variants = [{"sku": f"{sku}-{size}", "options": {"size": size}, "price": None, "stock": 5} for size in options]
    created = now - timedelta(seconds=rng.uniform(0, 730 * 86400))
    version = rng.choice((1, 1, 1, 2, 2, 3, 4))
    updated = created + timedelta(seconds=rng.uniform(0, (now - created).total_seconds())) if version > 1 else created
    status = rng.choices(("active", "draft", "archived"), weights=(90, 7, 3))[0]
    attributes: dict[str, Any] = {"material": material.lower()}
    if colour:
        attributes["color"] = colour.lower()
    rng.getrandbits(128)  # drawn as before, so a seed still makes the same products as earlier runs made
    return {
        # The id follows the SKU, which names the run: a new run with the same seed loads new products rather than
        # rewriting an earlier run's rows with the same versions (which the read model's guards ignore).
        "id": str(uuid.uuid5(PRODUCT_IDS, sku)),
        "sku": sku,
        "name": name,
        "brand": brand,
        "description": description,
        "price": str(price),
        "currency": "EUR",
        "stock": rng.randint(0, 300),
        "attributes": attributes,
        "images": [f"https://img.example/{sku}/{i}.jpg" for i in range(rng.randint(0, 3))],
        "status": status,
        "variants": variants,
        "version": version,
        "created_at": created.isoformat(),
        "updated_at": updated.isoformat(),
    }


def build_parts(
    rng: random.Random, sku_prefix: str, count: int, taxonomy: Taxonomy
) -> tuple[list[tuple[CorePart, EnrichmentPart | None]], list[Generated]]:
    """`count` products as the indexer would receive them: the core part and (mostly) an enrichment part."""
    now = datetime.now(UTC)
    parts: list[tuple[CorePart, EnrichmentPart | None]] = []
    generated: list[Generated] = []
    for n in range(count):
        data = snapshot(rng, sku_prefix, n, now)
        core = CorePart.from_snapshot(data)
        draw = rng.random()
        enrichment: EnrichmentPart | None = None
        if draw < 0.98:
            facts = ProductFacts.from_snapshot(data if draw < 0.95 else {**data, "version": max(1, core.version - 1)})
            enrichment = EnrichmentPart.from_event(enrich(facts, taxonomy).to_event_data())
        parts.append((core, enrichment))
        generated.append(
            Generated(
                sku=core.sku,
                variant_skus=tuple(v["sku"] for v in data["variants"]),
                name=core.name,
                brand=str(core.brand),
                category=enrichment.category if enrichment else None,
                price=core.price,
                status=core.status,
            )
        )
    return parts, generated


# --- loading -------------------------------------------------------------------------------------------------------


@dataclass
class LoadReport:
    applied_products: int = 0
    applied_parts: int = 0
    apply_s: float = 0.0
    batched: int = 0  # parts
    batch_s: float = 0.0
    analyze_s: float = 0.0
    changed: int = 0  # documents the writes changed (the guards ignore a write that brings nothing newer)


def load(
    database_url: str, parts: list[tuple[CorePart, EnrichmentPart | None]], apply_sample: int, batch: int
) -> LoadReport:
    report = LoadReport()
    engine = make_engine(database_url, 1)
    try:
        documents = SearchDocuments(engine)
        started = time.perf_counter()
        for core, enrichment in parts[:apply_sample]:
            report.changed += documents.apply(core)
            report.applied_parts += 1
            if enrichment is not None:
                report.changed += documents.apply(enrichment)
                report.applied_parts += 1
            report.applied_products += 1
        report.apply_s = time.perf_counter() - started
        rest = [part for core, enrichment in parts[apply_sample:] for part in (core, enrichment) if part is not None]
        started = time.perf_counter()
        for offset in range(0, len(rest), batch):
            report.changed += documents.apply_many(rest[offset : offset + batch])
            report.batched += len(rest[offset : offset + batch])
            if offset // batch % 100 == 99:
                print(f"    {report.applied_parts + report.batched} parts loaded", flush=True)
        report.batch_s = time.perf_counter() - started
    finally:
        engine.dispose()
    with psycopg.connect(libpq_conninfo(database_url), application_name="bench-search-load") as conn:
        conn.autocommit = True
        started = time.perf_counter()
        conn.execute("ANALYZE search.documents")
        report.analyze_s = time.perf_counter() - started
    return report


def index_lag(search_url: str) -> int | None:
    """Read-model changes the search index has not applied yet, as the search API reports them."""
    try:
        response = httpx.get(f"{search_url}/readyz", timeout=5)
    except httpx.HTTPError:
        return None
    return int(response.json()["lag"]) if response.status_code == 200 else None


def wait_for_index(search_url: str, timeout_s: float) -> float:
    """Seconds until the search index has applied every read-model change."""
    started = time.perf_counter()
    while (lag := index_lag(search_url)) != 0:
        if time.perf_counter() - started > timeout_s:
            raise SystemExit(f"the search index still lags by {lag} changes after {timeout_s:.0f} s")
        time.sleep(0.1)
    return time.perf_counter() - started


def unload(database_url: str, conninfo: str, search_url: str, sku_prefix: str) -> int:
    """Delete the run's products as the platform does (tombstones the index follows), then their rows."""
    with psycopg.connect(conninfo, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT product_id::text, core_version FROM search.documents WHERE sku LIKE %s AND NOT deleted",
            (sku_prefix.replace("_", r"\_") + "-%",),
        ).fetchall()
    engine = make_engine(database_url, 1)
    try:
        documents = SearchDocuments(engine)
        for offset in range(0, len(rows), 5000):
            documents.apply_many([Tombstone(pid, version + 1) for pid, version in rows[offset : offset + 5000]])
    finally:
        engine.dispose()
    wait_for_index(search_url, 1800)
    with psycopg.connect(conninfo, autocommit=True, application_name="bench-search-unload") as conn:
        ids = [pid for pid, _ in rows]
        return conn.execute("DELETE FROM search.documents WHERE product_id = ANY(%s::uuid[])", (ids,)).rowcount


# --- queries -------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Query:
    text: str | None = None
    brand: str | None = None
    category: str | None = None
    price_min: Decimal | None = None
    price_max: Decimal | None = None
    sort: Sort = "relevance"

    def params(self) -> dict[str, str]:
        values = {
            "q": self.text,
            "brand": self.brand,
            "category": self.category,
            "price_min": None if self.price_min is None else str(self.price_min),
            "price_max": None if self.price_max is None else str(self.price_max),
            "sort": None if self.sort == "relevance" else self.sort,
        }
        return {k: v for k, v in values.items() if v is not None}

    def search_query(self) -> SearchQuery:
        return SearchQuery(
            text=self.text,
            brand=self.brand,
            category=self.category,
            price_min=self.price_min,
            price_max=self.price_max,
            sort=self.sort,
        )


def name_words(product: Generated, min_length: int) -> list[str]:
    return [w for w in product.name.replace(" - ", " ").split() if len(w) >= min_length and w.isalpha()]


def make_typo(word: str, rng: random.Random) -> str:
    """A swapped pair of different adjacent letters, or a missing letter (not the first)."""
    swaps = [i for i in range(len(word) - 1) if word[i].lower() != word[i + 1].lower()]
    if swaps and rng.random() < 0.5:
        i = rng.choice(swaps)
        return word[:i] + word[i + 1] + word[i] + word[i + 2 :]
    i = rng.randrange(1, len(word))
    return word[:i] + word[i + 1 :]


def query_mix(products: list[Generated], count: int, rng: random.Random) -> dict[str, list[Query]]:
    """`count` queries of each type, all of them about loaded products."""
    active = [p for p in products if p.status == "active"]
    with_variants = [p for p in active if p.variant_skus]
    brands = sorted({p.brand for p in products})
    categories = sorted({p.category for p in products if p.category})
    broad_words = ("Cotton", "Organic", "Classic", "Wireless", "Leather", "Relaxed", "Pro", "Ceramic")

    def single() -> Query:
        p = rng.choice(active)
        return Query(rng.choice([*name_words(p, 3), p.brand.split()[0]]))

    def two() -> Query:
        p = rng.choice(active)
        words = name_words(p, 2)
        if rng.random() < 0.5 or len(words) < 2:
            return Query(f"{p.brand.split()[0]} {words[-1]}")
        i = rng.randrange(len(words) - 1)
        return Query(f"{words[i]} {words[i + 1]}")

    def typo() -> Query:
        while True:
            p = rng.choice(active)
            candidates = [w for w in [*name_words(p, 5), *p.brand.split()] if len(w) >= 5 and w.isalpha()]
            if candidates:
                return Query(make_typo(rng.choice(candidates), rng))

    def sku() -> Query:
        if with_variants and rng.random() < 0.5:
            return Query(rng.choice(rng.choice(with_variants).variant_skus))
        return Query(rng.choice(active).sku)

    def filter_sort() -> Query:
        low = Decimal(rng.choice((0, 10, 20, 50, 100)))
        high = low + Decimal(rng.choice((25, 50, 100, 500)))
        match rng.randrange(3):
            case 0:
                return Query(brand=rng.choice(brands), price_min=low, price_max=high, sort="price_asc")
            case 1:
                return Query(category=rng.choice(categories), price_min=low, price_max=high, sort="price_asc")
            case _:
                p = rng.choice([p for p in active[:2000] if p.category] or active)
                return Query(brand=p.brand, category=p.category, sort="price_asc")

    def broad() -> Query:
        return Query(rng.choice(broad_words))

    def browse() -> Query:
        return Query()

    makers: dict[str, Callable[[], Query]] = {
        "single word": single,
        "two words": two,
        "typo": typo,
        "SKU": sku,
        "filter+sort": filter_sort,
        "broad": broad,
        "browse (no q)": browse,
    }
    return {name: [make() for _ in range(count)] for name, make in makers.items()}


@dataclass
class Timing:
    latencies_s: list[float] = field(default_factory=list)
    totals: list[int] = field(default_factory=list)
    errors: int = 0
    wall_s: float = 0.0
    server_cpu_s: float | None = None
    machine_busy: float | None = None  # share of all CPUs of the machine busy during the run

    @property
    def qps(self) -> float:
        return len(self.latencies_s) / self.wall_s if self.wall_s > 0 else math.nan


async def run_http(
    search_url: str,
    queries: Sequence[Query],
    concurrency: int,
    budget_s: float,
    server_pid: int | None,
    path: str = "/search",
) -> Timing:
    """Send the queries from `concurrency` closed-loop workers; stop starting new ones after `budget_s`.

    With `path="/healthz"` the same number of health checks is sent instead: the floor of HTTP, uvicorn, FastAPI
    (a sync endpoint, like /search) and this client, without the database.
    """
    searching = path == "/search"
    timing = Timing()
    position = 0
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=search_url, limits=limits, timeout=httpx.Timeout(60.0)) as client:

        async def worker() -> None:
            nonlocal position
            while position < len(queries) and time.perf_counter() - started < budget_s:
                query = queries[position]
                position += 1
                sent = time.perf_counter()
                try:
                    response = await client.get(path, params=query.params() if searching else None)
                except httpx.HTTPError:
                    timing.errors += 1
                    continue
                elapsed = time.perf_counter() - sent
                if response.status_code != 200:
                    timing.errors += 1
                    continue
                timing.latencies_s.append(elapsed)
                if searching:
                    timing.totals.append(int(response.json()["total"]))

        cpu_before, machine_before = proc_cpu_s(server_pid), machine_cpu()
        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        timing.wall_s = time.perf_counter() - started
        cpu_after, machine_after = proc_cpu_s(server_pid), machine_cpu()
    if cpu_before is not None and cpu_after is not None:
        timing.server_cpu_s = cpu_after - cpu_before
    timing.machine_busy = busy_share(machine_before, machine_after)
    return timing


def run_index(index_root: Path, queries: Sequence[Query], budget_s: float) -> Timing:
    """The search index itself, in this process, sequentially, every query computed (no result cache)."""
    timing = Timing()
    index = SearchIndex(index_root, cache_size=0)
    machine_before = machine_cpu()
    started = time.perf_counter()
    for query in queries:
        if time.perf_counter() - started >= budget_s:
            break
        sent = time.perf_counter()
        result = index.search(query.search_query())
        timing.latencies_s.append(time.perf_counter() - sent)
        timing.totals.append(result.total)
    timing.wall_s = time.perf_counter() - started
    timing.machine_busy = busy_share(machine_before, machine_cpu())
    return timing


# --- process and database facts ------------------------------------------------------------------------------------


def stack_pid(root: Path, name: str) -> int | None:
    """The pid of a stack service itself (not of its supervisor), if it runs."""
    process = ManagedProcess(name, root / "run", root / "log")
    return process.child_pid() or process.pid()


def busy_share(before: tuple[int, int], after: tuple[int, int]) -> float | None:
    total = after[1] - before[1]
    return (after[0] - before[0]) / total if total > 0 else None


def mib(value: float | None) -> str:
    return "n/a" if value is None else f"{value / 1024 / 1024:.1f} MiB"


def read_model_facts(conninfo: str, sku_prefix: str, index_root: Path) -> list[tuple[str, str]]:
    with psycopg.connect(conninfo, autocommit=True) as conn:

        def one(sql: str, params: Sequence[Any] = ()) -> Any:
            row = conn.execute(sql, params).fetchone()
            return row[0] if row else None

        facts = [
            ("rows in search.documents", f"{one('SELECT count(*) FROM search.documents'):,}"),
            (
                "  of them loaded by this run",
                f"{one('SELECT count(*) FROM search.documents WHERE sku LIKE %s', (sku_prefix + '-%',)):,}",
            ),
            (
                "search.documents total (with TOAST, indexes)",
                mib(one("SELECT pg_total_relation_size('search.documents')")),
            ),
            ("  table (heap)", mib(one("SELECT pg_relation_size('search.documents')"))),
            ("  TOAST", mib(one("SELECT pg_table_size('search.documents') - pg_relation_size('search.documents')"))),
            ("  all indexes", mib(one("SELECT pg_indexes_size('search.documents')"))),
        ]
        for name, size in conn.execute(
            """SELECT c.relname, pg_relation_size(c.oid) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
               WHERE i.indrelid = 'search.documents'::regclass ORDER BY pg_relation_size(c.oid) DESC"""
        ):
            facts.append((f"    {name}", mib(size)))
        facts.append(("PostgreSQL shared_buffers / work_mem", f"{one('SHOW shared_buffers')} / {one('SHOW work_mem')}"))
    generation = current_generation(index_root)
    if generation is not None:
        size = sum(f.stat().st_size for f in generation.iterdir() if f.is_file())
        searcher = SearchIndex(index_root).searcher()
        facts.append(("search index on disk", f"{mib(size)} ({generation.name})"))
        facts.append(("  documents / segments", f"{searcher.num_docs:,} / {searcher.num_segments}"))
    return facts


# --- report --------------------------------------------------------------------------------------------------------


def ms(values: Sequence[float], q: float | None = None) -> str:
    if not values:
        return "n/a"
    if q is None:
        return f"{statistics.fmean(values) * 1000:.1f}"
    ordered = sorted(values)
    return f"{ordered[max(1, math.ceil(q / 100 * len(ordered))) - 1] * 1000:.1f}"


# The targets at 1,000,000 documents: p99 at concurrency 1 and 8.
TARGET_P99_S = {1: 0.030, 8: 0.100}


def print_table(title: str, rows: Iterable[tuple[str, Timing]], target_s: float | None) -> None:
    print()
    print(title + (f" target p99 <= {target_s * 1000:.0f} ms" if target_s else ""))
    columns: tuple[str, ...] = ("n", "err", "p50 ms", "p99 ms", "p99/target", "max ms", "mean ms", "q/s")
    columns += ("mean total", "API CPU ms/q", "host CPU")
    header = f"{'query type':<15}" + "".join(f"{c:>13}" for c in columns)
    print(header)
    print("-" * len(header))
    for name, t in rows:
        cpu = (
            "n/a"
            if t.server_cpu_s is None or not t.latencies_s
            else f"{t.server_cpu_s / len(t.latencies_s) * 1000:.1f}"
        )
        cells = (
            str(len(t.latencies_s)),
            str(t.errors),
            ms(t.latencies_s, 50),
            ms(t.latencies_s, 99),
            ratio(t.latencies_s, target_s),
            f"{max(t.latencies_s) * 1000:.1f}" if t.latencies_s else "n/a",
            ms(t.latencies_s),
            f"{t.qps:.1f}",
            f"{statistics.fmean(t.totals):,.0f}" if t.totals else "n/a",
            cpu,
            "n/a" if t.machine_busy is None else f"{t.machine_busy * 100:.0f}%",
        )
        print(f"{name:<15}" + "".join(f"{c:>13}" for c in cells))


def ratio(latencies: Sequence[float], target_s: float | None) -> str:
    if not latencies or target_s is None:
        return "-"
    ordered = sorted(latencies)
    return f"{ordered[max(1, math.ceil(0.99 * len(ordered))) - 1] / target_s:.2f}"


def http_passes(
    search_url: str, mix: dict[str, list[Query]], args: argparse.Namespace, search_pid: int | None
) -> dict[int, dict[str, Timing]]:
    """Every query type over HTTP at concurrency 1 and `--concurrency`, after a warm-up of each type."""
    for queries in mix.values():
        asyncio.run(run_http(search_url, queries[: args.warmup], 1, args.time_budget, None))
    http: dict[int, dict[str, Timing]] = {}
    for concurrency in dict.fromkeys((1, args.concurrency)):
        floor = [Query()] * args.queries
        http[concurrency] = {
            HTTP_FLOOR: asyncio.run(run_http(search_url, floor, concurrency, args.time_budget, search_pid, "/healthz"))
        }
        for name, queries in mix.items():
            http[concurrency][name] = t = asyncio.run(
                run_http(search_url, queries[args.warmup :], concurrency, args.time_budget, search_pid)
            )
            print(f"  HTTP c={concurrency} {name}: {len(t.latencies_s)} in {t.wall_s:.1f} s", flush=True)
    return http


def load_and_report(
    database_url: str, search_url: str, parts: list[tuple[CorePart, EnrichmentPart | None]], args: argparse.Namespace
) -> None:
    """Load the products, wait until the search index has applied them, and print how fast both went."""
    load_started = time.perf_counter()
    report = load(database_url, parts, args.apply_sample, args.batch)
    after_load_s = wait_for_index(search_url, 3600)
    indexed_s = time.perf_counter() - load_started
    total_parts = report.applied_parts + report.batched
    print(
        f"  loaded: {report.applied_products} products ({report.applied_parts} parts) via SearchDocuments.apply "
        f"in {report.apply_s:.1f} s = {report.applied_parts / report.apply_s if report.apply_s else 0:.0f} "
        f"parts/s; {report.batched} parts via SearchDocuments.apply_many in {report.batch_s:.1f} s = "
        f"{report.batched / report.batch_s if report.batch_s else 0:.0f} parts/s; ANALYZE {report.analyze_s:.1f} s"
    )
    if report.changed < len(parts):  # each product's document changes at least once when it is new
        print(f"  WARNING: {report.changed:,} documents changed for {len(parts):,} products (rows already there?)")
    print(
        f"  search index: every change applied {after_load_s:.1f} s after the last write; {total_parts:,} parts "
        f"from the first write to searchable in {indexed_s:.1f} s = {total_parts / indexed_s:,.0f} parts/s"
    )


def api_url() -> str:
    return f"http://127.0.0.1:{os.environ.get('API_PORT', '8000')}"


def restart(service: StackService, env: dict[str, str], search_url: str) -> None:
    """Start the search API again with `env`; back once it is ready."""
    service.stop()
    service.env = env
    service.start()
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{search_url}/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit("the search API did not come back within 120 s")


# --- main ----------------------------------------------------------------------------------------------------------


def check_loopback(url: str) -> None:
    if urlsplit(url).hostname not in LOOPBACK_HOSTS:
        raise SystemExit(f"refusing a non-loopback host: {url}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--products", type=int, default=100_000, help="products to load (default 100000, max 1e6)")
    parser.add_argument("--queries", type=int, default=200, help="measured queries per type and concurrency")
    parser.add_argument("--concurrency", type=int, default=8, help="the second concurrency level (default 8)")
    parser.add_argument("--warmup", type=int, default=20, help="unmeasured queries per type first (default 20)")
    parser.add_argument("--time-budget", type=float, default=60.0, help="max seconds per type and concurrency")
    parser.add_argument("--apply-sample", type=int, default=2000, help="products written via SearchDocuments.apply")
    parser.add_argument("--batch", type=int, default=1000, help="parts per apply_many transaction")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--keep", action="store_true", help="keep the loaded products")
    parser.add_argument("--no-direct", action="store_true", help="skip the in-process SearchIndex timing")
    parser.add_argument("--no-uncached", action="store_true", help="skip the HTTP pass without the result cache")
    parser.add_argument("--reuse", metavar="RUN", help="query the products an earlier run kept (--keep), load nothing")
    parser.add_argument("--search-url", default=f"http://127.0.0.1:{os.environ.get('SEARCH_PORT', '8001')}")
    args = parser.parse_args()
    if not 1 <= args.products <= 1_000_000 or not 1 <= args.queries <= 100_000 or not 1 <= args.concurrency <= 256:
        parser.error("bounds: 1 <= --products <= 1e6, 1 <= --queries <= 1e5, 1 <= --concurrency <= 256")
    if not 0 <= args.warmup <= 10_000 or not 1 <= args.time_budget <= 3600 or not 1 <= args.batch <= 100_000:
        parser.error("bounds: 0 <= --warmup <= 1e4, 1 <= --time-budget <= 3600, 1 <= --batch <= 1e5")
    if not 0 <= args.apply_sample <= args.products:
        parser.error("--apply-sample must be between 0 and --products")
    search_url = args.search_url.rstrip("/")
    check_loopback(search_url)

    config = StackConfig.from_env(REPO / ".local")
    database_url = os.environ.get("DATABASE_URL") or config.postgres.url()
    if make_url(database_url).host not in LOOPBACK_HOSTS:
        raise SystemExit(f"refusing a non-loopback database: {database_url}")
    conninfo = libpq_conninfo(database_url)
    try:
        ready = httpx.get(f"{search_url}/readyz", timeout=5)
    except httpx.HTTPError as exc:
        raise SystemExit(f"the search API at {search_url} does not answer ({exc}); start the stack first") from exc
    if ready.status_code != 200:
        raise SystemExit(f"the search API at {search_url} is not ready: {ready.status_code} {ready.text}")
    search_pid = stack_pid(config.root, "search-api")
    index_root = Path(os.environ.get("SEARCH_INDEX_DIR") or config.root / "search-index")

    run = args.reuse or uuid.uuid4().hex[:6]
    sku_prefix = f"SB{run}"
    rng = random.Random(args.seed)
    print(f"run {run}: search API {search_url} (pid {search_pid}), database {database_url}, {os.cpu_count()} CPUs")
    print(f"  load average before: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}")
    started = time.perf_counter()
    # A reused run's products are the ones the same seed made first: the query mix needs only a sample of them.
    count = min(args.products, 100_000) if args.reuse else args.products
    parts, products = build_parts(rng, sku_prefix, count, Taxonomy.default())
    print(f"  generated {len(parts)} products in {time.perf_counter() - started:.1f} s (SKUs {sku_prefix}-*)")
    memory_before = proc_memory_kib(search_pid)
    try:
        if not args.reuse:
            load_and_report(database_url, search_url, parts, args)
        del parts
        mix = query_mix(products, args.queries + args.warmup, random.Random(args.seed + 1))
        examples = {name: queries[args.warmup].params() for name, queries in mix.items()}
        http = http_passes(search_url, mix, args, search_pid)
        uncached: dict[int, dict[str, Timing]] = {}
        if not args.no_uncached:
            service = StackService.of_stack(find_stack(api_url(), search_url), "search-api")
            original = dict(service.env)
            try:
                restart(service, {**original, "SEARCH_RESULT_CACHE": "0"}, search_url)
                uncached = http_passes(search_url, mix, args, stack_pid(config.root, "search-api"))
            finally:
                restart(service, original, search_url)
        direct = (
            {}
            if args.no_direct
            else {
                name: run_index(index_root, queries[args.warmup :], args.time_budget) for name, queries in mix.items()
            }
        )
        memory_after = proc_memory_kib(search_pid)
        facts = read_model_facts(conninfo, sku_prefix, index_root)
        load_after = os.getloadavg()
    finally:
        if args.keep or args.reuse:
            print(f"  kept the loaded products (SKUs {sku_prefix}-*)")
        else:
            print(f"  deleted {unload(database_url, conninfo, search_url, sku_prefix)} loaded products")

    print()
    print("Example query of each type:")
    for name, params in examples.items():
        print(f"  {name:<15} {params}")
    print()
    print("'mean total' = matches of the query (the API returns 20 of them); 'API CPU' = the search API process's")
    print("CPU per query; 'host CPU' = share of all CPUs of the machine busy meanwhile, whoever used them;")
    print(f"'{HTTP_FLOOR}' = the same number of health checks: HTTP + FastAPI + this client, no index.")
    for concurrency, timings in http.items():
        target = TARGET_P99_S.get(concurrency)
        title = f"HTTP GET /search, concurrency {concurrency} (limit 20, with facets), as the stack runs:"
        print_table(title, timings.items(), target)
    for concurrency, timings in uncached.items():
        target = TARGET_P99_S.get(concurrency)
        title = f"HTTP GET /search, concurrency {concurrency} (limit 20, with facets), SEARCH_RESULT_CACHE=0:"
        print_table(title, timings.items(), target)
    if direct:
        print_table("SearchIndex.search() in this process, no HTTP, concurrency 1:", direct.items(), None)
    print()
    for name, value in facts:
        print(f"{name:<46} {value}")
    print(
        f"{'search API RSS peak (VmHWM) before / after':<46} "
        f"{mib(memory_before.get('VmHWM', 0) * 1024)} / {mib(memory_after.get('VmHWM', 0) * 1024)}"
    )
    print(f"{'search API RSS now (VmRSS)':<46} {mib(memory_after.get('VmRSS', 0) * 1024)}")
    print(
        f"{'load average after the queries (1/5/15 min)':<46} "
        f"{load_after[0]:.2f} {load_after[1]:.2f} {load_after[2]:.2f}"
    )


if __name__ == "__main__":
    main()
