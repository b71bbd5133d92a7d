"""The search index: a Tantivy index derived from the read model, where `GET /search` is answered.

`search.documents` in PostgreSQL stays the source of truth (per-part versions, tombstones); this index holds what
a search needs of each live product and is rebuilt from the read model at any time. Every change of a read-model
row gets the next number of the sequence `search.document_changes`; the index stores, in the same commit as the
documents, the highest change number it has applied (a marker document), so whoever opens it knows exactly where
to resume: a kill at any moment leaves the last commit, and the changes after it are applied again (applying a
change replaces the product's document, so applying it twice changes nothing).

Layout: `<SEARCH_INDEX_DIR>/current` is a symbolic link to the generation in use (`gen-000001`, ...). A rebuild
writes a new generation beside it and swaps the link; readers and the writer notice the new target and reopen.
"""

from __future__ import annotations

import functools
import logging
import os
import re
import shutil
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import tantivy

from catalog_indexer.domain.document import enrichment_status
from catalog_indexer.domain.relevance import (
    MATCH_WEIGHTS,
    SKU_MATCHED,
    WORD_MATCHED,
    Field,
    WordPlan,
    plan_words,
    signal,
    ways_to_match,
)
from catalog_indexer.domain.search_query import SearchQuery

log = logging.getLogger("catalog_indexer.search_index")

# Part of every generation's name: a change of the schema below needs a rebuild, which a new version forces.
SCHEMA_VERSION = 1
CURRENT = "current"
FOLDED = "folded"
POSITION_ID = "~position"  # the marker document's id; no product id (a UUID) looks like it
TEXT_FIELDS: tuple[Field, ...] = ("name", "brand", "keywords", "category", "description")
TYPO_FIELDS: tuple[Field, ...] = ("name", "brand", "keywords", "category")
PREFIX_FIELDS: tuple[Field, ...] = ("name", "brand", "keywords", "category")
FACET_SIZE = 20
# Facet values are counted as written and merged by folded spelling afterwards; ask for more than are shown.
FACET_FETCH = 60
SIGNAL_SCALE = 5e-4  # the signal only breaks ties: see `_signal_weight`


def analyzer() -> tantivy.TextAnalyzer:
    """Words of the catalog and of queries alike: split on non-alphanumerics, lower-cased, accents folded."""
    return (
        tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.simple())
        .filter(tantivy.Filter.remove_long(40))
        .filter(tantivy.Filter.lowercase())
        .filter(tantivy.Filter.ascii_fold())
        .build()
    )


_ANALYZER = analyzer()


def fold(value: str | None) -> str:
    """A brand or category as filters and facets compare it: its words folded, one space between them."""
    return " ".join(_ANALYZER.analyze(value or ""))


@functools.lru_cache(maxsize=65_536)
def _fold_word(word: str) -> str:
    """One word folded, as highlighting compares them; the catalog's vocabulary is small, so it is remembered."""
    return fold(word)


def build_schema() -> tantivy.Schema:
    builder = tantivy.SchemaBuilder()
    builder.add_text_field("id", stored=True, tokenizer_name="raw")
    for name in TEXT_FIELDS:
        builder.add_text_field(name, stored=name != "keywords", tokenizer_name=FOLDED)
    builder.add_text_field("keyword_list", stored=True, tokenizer_name="raw", index_option="basic")
    builder.add_text_field("skus", tokenizer_name="raw", index_option="basic")
    builder.add_text_field("sku", stored=True, tokenizer_name="raw", index_option="basic")
    builder.add_text_field("brand_key", tokenizer_name="raw", index_option="basic")
    builder.add_text_field("category_key", tokenizer_name="raw", index_option="basic")
    builder.add_text_field("brand_value", fast=True, tokenizer_name="raw", index_option="basic")
    builder.add_text_field("category_value", fast=True, tokenizer_name="raw", index_option="basic")
    builder.add_text_field("status", stored=True, tokenizer_name="raw", index_option="basic")
    builder.add_float_field("price", indexed=True, fast=True)
    builder.add_integer_field("created", fast=True)  # microseconds since the epoch, for "newest"
    builder.add_float_field("signal", fast=True)
    builder.add_integer_field("position", stored=True)  # the marker's: highest change number applied
    builder.add_text_field("read_model", stored=True, tokenizer_name="raw", index_option="basic")  # ... of which
    builder.add_text_field("payload", stored=True, tokenizer_name="raw", index_option="basic")
    return builder.build()


SCHEMA = build_schema()


def open_index(path: Path) -> tantivy.Index:
    """Open (or create) the index in `path`, with the analyzer its text fields are declared with."""
    path.mkdir(parents=True, exist_ok=True)
    index = tantivy.Index(SCHEMA, path=str(path), reuse=True)
    index.register_tokenizer(FOLDED, _ANALYZER)
    return index


# --- the documents -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class IndexedProduct:
    """What the index keeps of one live product: read-model columns, as `changes_after` selects them."""

    product_id: str
    sku: str
    skus: Sequence[str]
    name: str
    brand: str | None
    description: str | None
    price: float
    price_text: str
    currency: str
    status: str
    created_at: datetime
    core_version: int
    enrichment_version: int
    enrichment_degraded: bool
    keywords: Sequence[str]
    category: str | None
    completeness: float | None
    thumbnail_url: str | None


def product_document(p: IndexedProduct) -> tantivy.Document:
    doc = tantivy.Document()
    doc.add_text("id", p.product_id)
    doc.add_text("name", p.name)
    if p.brand:
        doc.add_text("brand", p.brand)
        doc.add_text("brand_key", fold(p.brand))
        doc.add_text("brand_value", p.brand)
    for keyword in p.keywords:
        doc.add_text("keywords", keyword)
        doc.add_text("keyword_list", keyword)
    if p.category:
        doc.add_text("category", p.category)
        doc.add_text("category_key", fold(p.category))
        doc.add_text("category_value", p.category)
    if p.description:
        doc.add_text("description", p.description)
    for sku in dict.fromkeys([p.sku.lower(), *(s.lower() for s in p.skus)]):
        doc.add_text("skus", sku)
    doc.add_text("sku", p.sku)
    doc.add_text("status", p.status)
    doc.add_float("price", p.price)
    doc.add_integer("created", int(p.created_at.timestamp() * 1_000_000))
    doc.add_float("signal", _signal_weight(signal(p.completeness, bool(p.thumbnail_url))))
    # What a hit shows beside the stored text fields, in one stored value: read back only for the page's hits.
    doc.add_text(
        "payload",
        "\x1f".join(
            (
                p.price_text,
                p.currency,
                p.thumbnail_url or "",
                str(p.core_version),
                str(p.enrichment_version),
                "1" if p.enrichment_degraded else "",
            )
        ),
    )
    return doc


def _signal_weight(value: float) -> float:
    """The engine multiplies a score by log2(2 + weight): at most x1.0004 here, below the smallest difference
    of match weights even for eight words (8 x 108 x 0.0004 < 0.5), so the signal orders equal matches only."""
    return round(value, 2) * SIGNAL_SCALE


# --- the writer ----------------------------------------------------------------------------------------------------


class IndexWriter:
    """The one writer of one generation: applies read-model changes and records how far it got, atomically."""

    def __init__(self, path: Path, heap_bytes: int = 64_000_000, threads: int = 1) -> None:
        self.path = path
        self.index = open_index(path)
        # Raises ValueError while another process holds the writer lock (an advisory file lock: a killed holder
        # releases it with its process).
        self.writer = self.index.writer(heap_size=heap_bytes, num_threads=threads)
        self.index.config_reader(reload_policy="manual")

    def position(self) -> tuple[int, str]:
        """The highest change number this generation has applied (0: none), and of which read model."""
        self.index.reload()
        return read_marker(self.index.searcher())

    def apply(self, live: Iterable[IndexedProduct], gone: Iterable[str], position: int, read_model: str) -> int:
        """Stage `live` and `gone` and commit them with `position`; returns how many rows were staged."""
        staged = self.stage(live, gone)
        self.commit(position, read_model)
        return staged

    def stage(self, live: Iterable[IndexedProduct], gone: Iterable[str]) -> int:
        """Replace the documents of `live` and drop those of `gone` in the next commit; how many rows that is."""
        staged = 0
        for product_id in gone:
            self.writer.delete_documents_by_term("id", product_id)
            staged += 1
        for product in live:
            self.writer.delete_documents_by_term("id", product.product_id)
            self.writer.add_document(product_document(product))
            staged += 1
        return staged

    def commit(self, position: int, read_model: str) -> None:
        """Make what was staged visible, together with `position` (a change number of `read_model`): atomically."""
        self.writer.delete_documents_by_term("id", POSITION_ID)
        marker = tantivy.Document()
        marker.add_text("id", POSITION_ID)
        marker.add_integer("position", position)
        marker.add_text("read_model", read_model)
        self.writer.add_document(marker)
        self.writer.commit()

    def close(self) -> None:
        """Wait for merges to finish and release the writer lock."""
        self.writer.wait_merging_threads()


def read_marker(searcher: tantivy.Searcher) -> tuple[int, str]:
    hits = searcher.search(tantivy.Query.term_query(SCHEMA, "id", POSITION_ID), 1, count=False).hits
    if not hits:
        return 0, ""
    marker = searcher.doc(hits[0][1])
    return int(marker.get_first("position") or 0), str(marker.get_first("read_model") or "")


# --- generations ---------------------------------------------------------------------------------------------------


def current_generation(root: Path) -> Path | None:
    """The generation the `current` link points at, or None before the first one is complete."""
    link = root / CURRENT
    try:
        return (root / os.readlink(link)).resolve()
    except FileNotFoundError:
        return None


def new_generation(root: Path) -> Path:
    """A fresh, empty directory for the next generation (left-overs of an interrupted rebuild removed)."""
    root.mkdir(parents=True, exist_ok=True)
    numbers = [int(m.group(1)) for p in root.iterdir() if (m := re.fullmatch(r"gen-(\d+)-v\d+", p.name))]
    path = root / f"gen-{max(numbers, default=0) + 1:06d}-v{SCHEMA_VERSION}"
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir()
    return path


def publish_generation(root: Path, generation: Path) -> None:
    """Point `current` at `generation` in one rename, then remove the generations nobody will open again."""
    temporary = root / f".{CURRENT}.{os.getpid()}"
    temporary.unlink(missing_ok=True)
    temporary.symlink_to(generation.name)
    temporary.rename(root / CURRENT)
    for old in root.iterdir():
        if old.is_dir() and old.name.startswith("gen-") and old.name < generation.name:
            # Open readers keep their files (unlinked files live on while mapped); they reopen on their next query.
            shutil.rmtree(old, ignore_errors=True)


def is_current_schema(generation: Path) -> bool:
    return generation.name.endswith(f"-v{SCHEMA_VERSION}")


class IndexGenerations:
    """The generations of the index under one directory: which one is current, a new one, publishing one."""

    def __init__(self, root: Path, heap_bytes: int = 64_000_000, threads: int = 1) -> None:
        self.root = root
        self.heap_bytes = heap_bytes
        self.threads = threads

    def current(self) -> Path | None:
        generation = current_generation(self.root)
        return generation if generation is not None and is_current_schema(generation) else None

    def open_current(self) -> IndexWriter | None:
        """A writer of the current generation; None when there is none of this schema version yet."""
        generation = self.current()
        return None if generation is None else IndexWriter(generation, self.heap_bytes, self.threads)

    def start_new(self) -> IndexWriter:
        return IndexWriter(new_generation(self.root), self.heap_bytes, self.threads)

    def publish(self, generation: Path) -> None:
        publish_generation(self.root, generation)


# --- fresh products ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FreshEntry:
    """A fresh product's read-model row: its change number and its document (None: deleted, or no core part)."""

    change: int
    product: IndexedProduct | None


@dataclass(frozen=True)
class PendingFresh:
    """The overlay as one query sees it: the products whose row is newer than the index's commit (`pending`, left
    out of the index's answer), those the commit has caught up with already (`expired`, left out of the overlay's),
    and a searcher over the overlay's live documents."""

    searcher: tantivy.Searcher
    pending: frozenset[str]
    expired: frozenset[str]


class FreshOverlay:
    """Fresh products read straight from the read model, in a small index in memory with the index's schema and
    documents, so the same queries rank them by the same rules. Replaced whole when its rows change (it holds a
    handful of products: those changed interactively within the last second or so)."""

    def __init__(self, limit: int = 1000) -> None:
        self.limit = limit
        self._entries: Mapping[str, FreshEntry] = {}
        self._searcher: tantivy.Searcher | None = None
        self._lock = threading.Lock()

    def ids(self) -> list[str]:
        return list(self._entries)

    def replace(self, entries: Mapping[str, FreshEntry], position: int) -> None:
        """Hold these rows, except those the index has caught up with (change number up to `position`); the most
        recent `limit` at most (the others wait for the index)."""
        kept = sorted(((pid, e) for pid, e in entries.items() if e.change > position), key=lambda item: -item[1].change)
        fresh = dict(kept[: self.limit])
        if {pid: e.change for pid, e in fresh.items()} == {pid: e.change for pid, e in self._entries.items()}:
            return
        searcher = _memory_index([e.product for e in fresh.values() if e.product is not None]) if fresh else None
        with self._lock:
            self._entries, self._searcher = fresh, searcher

    def pending(self, position: int) -> PendingFresh | None:
        """What a query on the commit at `position` must take from the overlay; None when nothing."""
        with self._lock:
            entries, searcher = self._entries, self._searcher
        if searcher is None:
            return None
        pending = frozenset(pid for pid, e in entries.items() if e.change > position)
        if not pending:
            return None
        return PendingFresh(searcher, pending, frozenset(entries) - pending)


def _memory_index(products: Sequence[IndexedProduct]) -> tantivy.Searcher:
    index = tantivy.Index(SCHEMA)  # in memory: nothing written to disk, nothing synced
    index.register_tokenizer(FOLDED, _ANALYZER)
    # Reloaded right below: under the default policy the reload waited for the reader's own watcher, up to 100 ms in
    # more than one build in ten (a one-product build: p90 106 ms; manual: p90 10 ms, max 11 ms).
    index.config_reader(reload_policy="manual")
    writer = index.writer(heap_size=15_000_000, num_threads=1)  # the engine's smallest heap
    for product in products:
        writer.add_document(product_document(product))
    writer.commit()
    writer.wait_merging_threads()
    index.reload()
    return index.searcher()


# --- the reader ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SearchHit:
    id: str
    sku: str
    name: str
    brand: str | None
    price: str
    currency: str
    category: str | None
    keywords: list[str]
    thumbnail_url: str | None
    status: str
    enrichment_status: str
    score: float | None
    highlight: dict[str, str]


@dataclass(frozen=True)
class SearchResult:
    total: int
    hits: list[SearchHit]
    facets: dict[str, list[dict[str, Any]]]


class IndexNotReady(Exception):
    """No generation has been published yet: the indexer is building the first one."""


class SearchIndex:
    """Read side: answers queries from the current generation, reopening it when a commit or a rebuild lands.

    Answers are kept for the commit they were computed on (`cache_size` most recent queries): the same query
    against the same commit has the same answer, and browsing pages and popular queries repeat. Any commit or
    rebuild empties the cache, so an answer is never older than the index.
    """

    def __init__(
        self, root: Path, facet_threads: int = 2, cache_size: int = 512, fresh: FreshOverlay | None = None
    ) -> None:
        self.root = root
        self.fresh = fresh
        self._generation: Path | None = None
        self._index: tantivy.Index | None = None
        self._seen: tuple[int, int] | None = None
        self._position = 0  # the marker of the commit loaded
        self._lock = threading.Lock()  # requests run in a thread pool; one of them reopens, the others wait
        self._cache: OrderedDict[SearchQuery, SearchResult] = OrderedDict()
        self._cache_size = cache_size
        self._commit = 0  # counts reloads: an answer computed on an older commit is not cached
        # Facets are counted while the page is collected: the engine releases the GIL, so both use a core each.
        self._facet_counter = ThreadPoolExecutor(max_workers=facet_threads, thread_name_prefix="facets")

    def searcher(self) -> tantivy.Searcher:
        """A searcher over the latest commit: a link read and a `stat` per call tell whether anything changed."""
        return self._latest()[0]

    def _latest(self) -> tuple[tantivy.Searcher, int, int]:
        with self._lock:
            generation = current_generation(self.root)
            if generation is None or not is_current_schema(generation):
                raise IndexNotReady(f"no search index of schema version {SCHEMA_VERSION} under {self.root} yet")
            if generation != self._generation or self._index is None:
                index = open_index(generation)
                index.config_reader(reload_policy="manual")
                self._index, self._generation, self._seen = index, generation, None
            try:
                meta = os.stat(generation / "meta.json")
            except FileNotFoundError as exc:  # replaced by a rebuild between the link and here: next call
                raise IndexNotReady(str(exc)) from exc
            seen = (meta.st_ino, meta.st_mtime_ns)
            if seen != self._seen:
                self._index.reload()
                self._seen = seen
                self._commit += 1
                self._cache.clear()
                self._position = read_marker(self._index.searcher())[0]
            return self._index.searcher(), self._commit, self._position

    def position(self) -> int:
        """The highest read-model change number the loaded commit has applied."""
        return self._latest()[2]

    def fresh_pending(self) -> int:
        """How many fresh products the overlay answers for now (those the loaded commit has not caught up with)."""
        pending = self.fresh.pending(self.position()) if self.fresh is not None else None
        return 0 if pending is None else len(pending.pending)

    def search(self, query: SearchQuery) -> SearchResult:
        searcher, commit, position = self._latest()
        # Fresh products the index has not caught up with yet are answered from the overlay: results then depend on
        # more than the commit, so they are neither taken from the cache nor kept in it.
        if self.fresh is not None and (fresh := self.fresh.pending(position)) is not None:
            return self._search_with(searcher, fresh, query)
        with self._lock:
            if (cached := self._cache.get(query)) is not None:
                self._cache.move_to_end(query)
                return cached
        result = self._search(searcher, query)
        with self._lock:
            if commit == self._commit and self._cache_size:
                self._cache[query] = result
                while len(self._cache) > self._cache_size:
                    self._cache.popitem(last=False)
        return result

    def _search(self, searcher: tantivy.Searcher, query: SearchQuery) -> SearchResult:
        matching = _matching(searcher.doc_freq, query)
        facets = self._facet_counter.submit(_facet_counts, searcher, matching)
        found = _collect(searcher, matching, query, query.limit, query.offset)
        relevance = query.effective_sort == "relevance"
        words = [w.word for w in _plans(query)]
        hits = [_hit(searcher.doc(address), key if relevance else None, words) for key, address in found.hits]
        return SearchResult(total=_count(found), hits=hits, facets=_facets(facets.result()))

    def _search_with(self, searcher: tantivy.Searcher, fresh: PendingFresh, query: SearchQuery) -> SearchResult:
        """The index's answer without the pending fresh products, merged with the overlay's answer for them.

        Both are ranked by the same rules with the same key (constant scores, the same signal weight; or the sort
        field's value), so merging by that key gives the page the index would give once it has caught up; each
        side is asked for everything up to the page's end, and the page is cut after merging.
        """

        def doc_freq(field: str, value: str) -> int:  # word statistics as if the fresh products were indexed
            return searcher.doc_freq(field, value) + fresh.searcher.doc_freq(field, value)

        matching = _matching(doc_freq, query)
        indexed = _without(matching, fresh.pending)
        overlaid = _without(matching, fresh.expired)
        facets = self._facet_counter.submit(_facet_counts, searcher, indexed)
        fresh_facets = _facet_counts(fresh.searcher, overlaid)
        end = query.offset + query.limit
        main, extra = _collect(searcher, indexed, query, end, 0), _collect(fresh.searcher, overlaid, query, end, 0)
        order = query.effective_sort
        # Python's sort is stable, reversed too: on equal keys the index's hits stay first, as the index orders a
        # document added later after older ones.
        merged = sorted(
            [(key, searcher, address) for key, address in main.hits]
            + [(key, fresh.searcher, address) for key, address in extra.hits],
            key=lambda hit: float(hit[0]),
            reverse=order != "price_asc",
        )[query.offset : end]
        words = [w.word for w in _plans(query)]
        hits = [_hit(s.doc(address), key if order == "relevance" else None, words) for key, s, address in merged]
        return SearchResult(
            total=_count(main) + _count(extra), hits=hits, facets=_facets(facets.result(), fresh_facets)
        )


def _collect(
    searcher: tantivy.Searcher, matching: tantivy.Query, query: SearchQuery, limit: int, offset: int
) -> tantivy.SearchResult:
    """The hits of `matching` in the query's order; each hit's first value is its sort key (score or field value)."""
    order = query.effective_sort
    if order == "relevance":
        return searcher.search(matching, limit, count=True, offset=offset, weight_by_field="signal")
    if order == "newest":
        return searcher.search(matching, limit, count=True, offset=offset, order_by_field="created")
    direction = tantivy.Order.Asc if order == "price_asc" else tantivy.Order.Desc
    return searcher.search(matching, limit, count=True, offset=offset, order_by_field="price", order=direction)


def _count(found: tantivy.SearchResult) -> int:
    return int(getattr(found, "count", 0) or 0)


def _without(matching: tantivy.Query, product_ids: Collection[str]) -> tantivy.Query:
    """`matching` except the documents of these products."""
    if not product_ids:
        return matching
    ids = tantivy.Query.boolean_query([(tantivy.Occur.Should, _term("id", pid)) for pid in sorted(product_ids)])
    return tantivy.Query.boolean_query([(tantivy.Occur.Must, matching), (tantivy.Occur.MustNot, ids)])


def _plans(query: SearchQuery) -> list[WordPlan]:
    return plan_words(_ANALYZER.analyze(query.text or ""))


DocFreq = Callable[[str, str], int]  # how many documents hold a term: what planning a word looks at


def _matching(doc_freq: DocFreq, query: SearchQuery) -> tantivy.Query:
    """The query's words (any of them; the score counts how many) or its SKU, within its filters (all of them)."""
    occur = tantivy.Occur
    filters: list[tantivy.Query] = []
    for field, value in (("brand_key", query.brand), ("category_key", query.category)):
        if value is not None:
            filters.append(_term(field, fold(value)))
    if query.status is not None:
        filters.append(_term("status", query.status))
    if query.price_min is not None or query.price_max is not None:
        low = float(query.price_min) if query.price_min is not None else None
        high = float(query.price_max) if query.price_max is not None else None
        filters.append(tantivy.Query.range_query(SCHEMA, "price", tantivy.FieldType.Float, low, high))
    if not query.text:
        if not filters:  # every product: everything but the marker
            return tantivy.Query.boolean_query([(occur.Must, tantivy.Query.all_query()), (occur.MustNot, _marker())])
        # The marker has no status, brand, category or price, so any filter leaves it out.
        return filters[0] if len(filters) == 1 else tantivy.Query.boolean_query([(occur.Must, f) for f in filters])
    typed = query.text.strip().lower()
    sku_typed = doc_freq("skus", typed) > 0
    should = [(occur.Should, _word_query(doc_freq, plan, sku_typed)) for plan in _plans(query)]
    sku = _term("skus", typed)
    should.append((occur.Should, tantivy.Query.const_score_query(sku, SKU_MATCHED)))
    # Filters add nothing to the score: only the words (and the SKU) do.
    return tantivy.Query.boolean_query(
        [(occur.Must, tantivy.Query.boolean_query(should))]
        + [(occur.Must, tantivy.Query.const_score_query(f, 0.0)) for f in filters]
    )


def _marker() -> tantivy.Query:
    return _term("id", POSITION_ID)


def _word_query(doc_freq: DocFreq, plan: WordPlan, sku_typed: bool) -> tantivy.Query:
    """One query word: WORD_MATCHED plus the weight of its best match (the maximum, not the sum)."""
    ways = [_weighted(_term(field, plan.word), "exact", field) for field in TEXT_FIELDS]
    exact_count = sum(doc_freq(field, plan.word) for field in PREFIX_FIELDS)
    prefix, typos = ways_to_match(plan, exact_count, sku_typed)
    if prefix:
        # A prefix automaton with no edits: compiling a regular expression instead cost ~4 ms per field.
        ways += [
            _weighted(tantivy.Query.fuzzy_term_query(SCHEMA, f, plan.word, distance=0, prefix=True), "prefix", f)
            for f in PREFIX_FIELDS
        ]
    if typos:
        for field in TYPO_FIELDS:
            fuzzy = tantivy.Query.fuzzy_term_query(SCHEMA, field, plan.word, distance=typos)
            ways.append(_weighted(fuzzy, "typo", field))
    return tantivy.Query.disjunction_max_query(ways)


def _weighted(query: tantivy.Query, kind: str, field: Field) -> tantivy.Query:
    return tantivy.Query.const_score_query(query, WORD_MATCHED + MATCH_WEIGHTS[(kind, field)])  # type: ignore[index]


def _term(field: str, value: str) -> tantivy.Query:
    return tantivy.Query.term_query(SCHEMA, field, value)


FacetCounts = dict[str, list[tuple[str, int]]]  # per facet, (value as written, matches)


def _facet_counts(searcher: tantivy.Searcher, matching: tantivy.Query) -> FacetCounts:
    """Brand and category values over every match, as written, with their counts."""
    spec = {name: {"terms": {"field": f"{name}_value", "size": FACET_FETCH}} for name in ("brand", "category")}
    counted = searcher.aggregate(matching, spec)
    return {
        name: [(str(b["key"]), int(b["doc_count"])) for b in counted.get(name, {}).get("buckets", [])]
        for name in ("brand", "category")
    }


def _facets(*counted: FacetCounts) -> dict[str, list[dict[str, Any]]]:
    """Counts (of the index, and of the overlay) added up, values differing only in case or accents merged."""
    facets: dict[str, list[dict[str, Any]]] = {}
    for name in ("brand", "category"):
        written: dict[str, int] = {}
        for counts in counted:
            for value, count in counts.get(name, []):
                written[value] = written.get(value, 0) + count
        merged: dict[str, list[Any]] = {}
        for value, count in written.items():
            entry = merged.setdefault(fold(value), [value, 0, 0])
            if count > entry[2]:  # the most common spelling names the merged value
                entry[0], entry[2] = value, count
            entry[1] += count
        ordered = sorted(merged.values(), key=lambda e: (-e[1], e[0]))[:FACET_SIZE]
        facets[name] = [{"value": value, "count": count} for value, count, _ in ordered]
    return facets


def _hit(doc: tantivy.Document, score: float | None, words: list[str]) -> SearchHit:
    # A sixth field (degraded) came later: documents written before it have five.
    price_text, currency, thumbnail, core_version, enrichment_version, *rest = str(doc.get_first("payload")).split(
        "\x1f"
    )
    name = str(doc.get_first("name"))
    description = doc.get_first("description")
    highlight = {}
    if words:
        if marked := mark(name, words):
            highlight["name"] = marked
        if description and (snippet := mark(str(description), words, around=18)):
            highlight["description"] = snippet
    return SearchHit(
        id=str(doc.get_first("id")),
        sku=str(doc.get_first("sku")),
        name=name,
        brand=doc.get_first("brand"),
        price=price_text,
        currency=currency,
        category=doc.get_first("category"),
        keywords=[str(k) for k in doc.get_all("keyword_list")],
        thumbnail_url=thumbnail or None,
        status=str(doc.get_first("status")),
        enrichment_status=enrichment_status(int(core_version), int(enrichment_version), rest[:1] == ["1"]),
        score=None if score is None else round(float(score), 4),
        highlight=highlight,
    )


_WORD = re.compile(r"\w+")


def mark(text: str, words: list[str], around: int | None = None) -> str | None:
    """`text` with the words that match a query word (exactly or as a prefix) in `<mark>`, or None if none do;
    with `around`, only a window of that many words starting a little before the first match."""
    tokens = list(_WORD.finditer(text))
    spans = [
        (m.start(), m.end())
        for m in tokens
        if (folded := _fold_word(m.group())) and any(folded.startswith(w) for w in words)
    ]
    if not spans:
        return None
    start, end = 0, len(text)
    if around is not None:
        first = next(i for i, m in enumerate(tokens) if m.start() == spans[0][0])
        begin = max(0, first - 3)
        start = tokens[begin].start()
        end = tokens[min(len(tokens), begin + around) - 1].end()
    out, cursor = [], start
    for s, e in spans:
        if s < start or e > end:
            continue
        out += [text[cursor:s], "<mark>", text[s:e], "</mark>"]
        cursor = e
    out.append(text[cursor:end])
    return "".join(out)


def wait_for_generation(root: Path, timeout_s: float) -> Path | None:
    """The current generation, waiting up to `timeout_s` for the first one."""
    deadline = time.monotonic() + timeout_s
    while (generation := current_generation(root)) is None and time.monotonic() < deadline:
        time.sleep(0.05)
    return generation
