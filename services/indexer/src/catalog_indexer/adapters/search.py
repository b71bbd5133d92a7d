"""Search over the read model: weighted full text, typo-tolerant trigrams, SKUs, filters, facets, snippets."""

import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, text

from catalog_indexer.domain.document import EnrichmentStatus, enrichment_status
from catalog_indexer.domain.search_query import SearchQuery

_ORDER = {
    "relevance": "score DESC, d.created_at DESC, d.product_id",
    "newest": "d.created_at DESC, d.product_id",
    "price_asc": "d.price ASC, d.product_id",
    "price_desc": "d.price DESC, d.product_id",
}

# Every word of the query must match: as an unaccented full-text word (name and brand weigh most, then keywords
# and category, then description), as a name/brand word within a small edit distance (a swapped, missing or extra
# letter or two), or as a close trigram match of the name and brand. An exact SKU matches on its own.
_WORD_MATCH = "(d.document @@ q.{w} OR search.fold(:{w}) <% d.fuzzy)"
# The word itself OR every lexicon word within the allowed edit distance, as one tsquery (computed once).
_WORD_QUERY = """plainto_tsquery('simple', search.fold(:{w})) || coalesce((
    SELECT to_tsquery('simple', string_agg(word, ' | ')) FROM search.lexicon
    WHERE length(word) BETWEEN length(search.fold(:{w})) - :{w}_d AND length(search.fold(:{w})) + :{w}_d
      AND levenshtein_less_equal(word, search.fold(:{w}), :{w}_d) <= :{w}_d), ''::tsquery) AS {w}"""
MAX_WORDS = 8
_SKU_MATCH = "d.skus @> ARRAY[lower(:text)]"
# An exact SKU outranks any text match; then weighted full-text rank plus closeness of name and brand.
_SCORE = (
    f"ts_rank_cd(d.document, q.tsq) + word_similarity(q.folded, d.fuzzy) + CASE WHEN {_SKU_MATCH} THEN 10 ELSE 0 END"
)
_SNIPPET = "'MaxFragments=1, MaxWords=18, MinWords=6, StartSel=<mark>, StopSel=</mark>'"


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
    enrichment_status: EnrichmentStatus
    score: float | None
    highlight: dict[str, str]


@dataclass(frozen=True)
class SearchResult:
    total: int
    hits: list[SearchHit]
    facets: dict[str, list[dict[str, Any]]]


def search(conn: Connection, query: SearchQuery, fuzzy_threshold: float) -> SearchResult:
    """Run `query` in one round trip: hits of the page, the total and facet counts over all matches."""
    where = ["d.core_version > 0", "NOT d.deleted"]
    params: dict[str, Any] = {"text": query.text or "", "limit": query.limit, "offset": query.offset}
    words: list[str] = re.findall(r"\w[\w.-]*", query.text)[:MAX_WORDS] if query.text else []
    for i, word in enumerate(words):
        params[f"w{i}"] = word
        params[f"w{i}_d"] = typo_distance(word)
    if query.text:
        all_words = " AND ".join(_WORD_MATCH.format(w=f"w{i}") for i in range(len(words))) or "false"
        where.append(f"(({all_words}) OR {_SKU_MATCH})")
    for column in ("brand", "category", "status"):
        if getattr(query, column) is not None:
            where.append(f"d.{column} = :{column}")
            params[column] = getattr(query, column)
    if query.price_min is not None:
        where.append("d.price >= :price_min")
        params["price_min"] = query.price_min
    if query.price_max is not None:
        where.append("d.price <= :price_max")
        params["price_max"] = query.price_max
    score = _SCORE if query.text else "NULL::float"
    order = _ORDER[query.effective_sort]
    sql = f"""
    WITH q AS (
        SELECT websearch_to_tsquery('simple', search.fold(:text)) AS tsq, search.fold(:text) AS folded
               {"".join(", " + _WORD_QUERY.format(w=f"w{i}") for i in range(len(words)))}
    ), matches AS (
        -- Narrow rows: every match is counted and faceted, only the page's rows need the rest of the document.
        SELECT d.product_id, d.brand, d.category, d.price, d.created_at, {score} AS score
        FROM search.documents d, q WHERE {" AND ".join(where)}
    ), top AS (
        SELECT * FROM matches d ORDER BY {order} LIMIT :limit OFFSET :offset
    ), page AS (
        SELECT d.product_id, d.sku, d.name, d.brand, d.price, d.price_text, d.currency, d.category, d.keywords,
               d.thumbnail_url, d.status, d.core_version, d.enrichment_version, d.enrichment_degraded, d.created_at,
               t.score,
               CASE WHEN :text <> '' THEN ts_headline('simple', d.name, q.tsq, {_SNIPPET}) END AS name_hl,
               CASE WHEN :text <> '' THEN ts_headline('simple', coalesce(d.description, ''), q.tsq, {_SNIPPET})
               END AS description_hl
        FROM top t JOIN search.documents d USING (product_id), q
    )
    SELECT
        (SELECT count(*) FROM matches) AS total,
        (SELECT coalesce(json_agg(json_build_object('value', brand, 'count', n)), '[]') FROM
            (SELECT brand, count(*) AS n FROM matches WHERE brand IS NOT NULL
             GROUP BY brand ORDER BY n DESC, brand LIMIT 20) b) AS brands,
        (SELECT coalesce(json_agg(json_build_object('value', category, 'count', n)), '[]') FROM
            (SELECT category, count(*) AS n FROM matches WHERE category IS NOT NULL
             GROUP BY category ORDER BY n DESC, category LIMIT 20) c) AS categories,
        (SELECT coalesce(json_agg(d ORDER BY {order}), '[]') FROM page d) AS hits
    """
    with conn.begin():
        # The trigram operator <% reads its threshold from this setting; LOCAL keeps it to this transaction.
        conn.execute(
            text("SELECT set_config('pg_trgm.word_similarity_threshold', :t, true)"), {"t": str(fuzzy_threshold)}
        )
        row = conn.execute(text(sql), params).one()
    return SearchResult(
        total=int(row.total),
        hits=[_hit(h) for h in row.hits],
        facets={"brand": row.brands, "category": row.categories},
    )


def typo_distance(word: str) -> int:
    """Edits a query word may be away from a catalog word: none for short words, where a typo is another word."""
    return 0 if len(word) < 4 else 1 if len(word) < 5 else 2


def _hit(row: dict[str, Any]) -> SearchHit:
    highlight = {
        k: row[f"{k}_hl"] for k in ("name", "description") if row.get(f"{k}_hl") and "<mark>" in row[f"{k}_hl"]
    }
    return SearchHit(
        id=str(row["product_id"]),
        sku=row["sku"],
        name=row["name"],
        brand=row["brand"],
        price=row["price_text"],
        currency=row["currency"],
        category=row["category"],
        keywords=list(row["keywords"] or []),
        thumbnail_url=row["thumbnail_url"],
        status=row["status"],
        enrichment_status=enrichment_status(row["core_version"], row["enrichment_version"], row["enrichment_degraded"]),
        score=None if row["score"] is None else round(float(row["score"]), 4),
        highlight=highlight,
    )
