"""How a shopper's query is matched and ranked: pure rules, independent of the engine that evaluates them.

A query is split into words (the engine's analyzer folds case and accents). Each word of the query scores
`WORD_MATCHED` once if it matches anything, plus the weight of its best way of matching (`MATCH_WEIGHTS`): so a
product matching more of the words always ranks above one matching fewer (no empty page for one unknown word, and
no partial match above a full one), and among products matching the same number of words, exact words in the name
or brand outrank prefixes, prefixes outrank typos, and the name and brand outrank keywords and category, which
outrank the description. What is left equal is ordered by the product's signal (`signal`), then newest first.
"""

from dataclasses import dataclass
from typing import Literal

Field = Literal["name", "brand", "keywords", "category", "description"]
Kind = Literal["exact", "prefix", "typo"]

MAX_WORDS = 8
# Larger than the sum of the best weights of MAX_WORDS words, so the count of matched words decides first.
WORD_MATCHED = 100.0
MATCH_WEIGHTS: dict[tuple[Kind, Field], float] = {
    ("exact", "name"): 8.0,
    ("exact", "brand"): 8.0,
    ("exact", "keywords"): 5.0,
    ("exact", "category"): 5.0,
    ("prefix", "name"): 4.0,
    ("prefix", "brand"): 4.0,
    ("typo", "name"): 3.0,
    ("typo", "brand"): 3.0,
    ("exact", "description"): 2.0,
    ("prefix", "keywords"): 1.5,
    ("prefix", "category"): 1.5,
    ("typo", "keywords"): 1.0,
    ("typo", "category"): 1.0,
}
# A SKU typed exactly is what the shopper means: above any text match of any number of words.
SKU_MATCHED = 10_000.0
# Prefixes of words shorter than this match too much to tell anything (and cost the most).
MIN_PREFIX = 3
# A word this common as an exact term already fills many pages: its typo variants would only add noise and cost.
TYPO_SKIP_DOC_FREQ = 1_000


@dataclass(frozen=True)
class WordPlan:
    """How one query word may match: always exactly, by prefix when long enough, within `typos` edits."""

    word: str
    prefix: bool
    typos: int
    last: bool = False


def ways_to_match(plan: WordPlan, exact_count: int, sku_typed: bool) -> tuple[bool, int]:
    """Whether to look for `plan.word` as a prefix, and within how many edits, given how many products have it as
    an exact word (`exact_count`) and whether the whole query is a SKU.

    A prefix is what a shopper still typing means: the last word, or a word that is no catalog word at all
    (`velmo`); a complete word elsewhere in the query is meant as it is. Neither prefixes nor typos are looked for
    when the word is so common that its exact matches fill many pages (they would rank below those anyway, and
    they are the costliest part of a query); typos not for a SKU either (an identifier is typed as it is).
    """
    common = exact_count >= TYPO_SKIP_DOC_FREQ
    prefix = plan.prefix and not common and (plan.last or exact_count == 0)
    typos = 0 if sku_typed or common else plan.typos
    return prefix, typos


def typo_distance(word: str) -> int:
    """Edits (a swapped pair counts as one) a query word may be from a catalog word, by the word's length.

    Under 4 letters none (a changed letter makes another word: `cap`/`cup`); 4 to 7 letters one (`lmap` finds
    `lamp`); 8 and more two.
    """
    return 0 if len(word) < 4 else 1 if len(word) < 8 else 2


def plan_words(words: list[str]) -> list[WordPlan]:
    """The plan for each distinct query word, in query order, at most MAX_WORDS of them."""
    distinct = list(dict.fromkeys(w for w in words if w))[:MAX_WORDS]
    return [
        WordPlan(w, prefix=len(w) >= MIN_PREFIX, typos=typo_distance(w), last=i == len(distinct) - 1)
        for i, w in enumerate(distinct)
    ]


def signal(completeness: float | None, has_thumbnail: bool) -> float:
    """How good a product's page is, 0..1: what orders products that match a query equally well.

    There is no sales or click data in the platform, so completeness (the enricher's score of filled-in fields)
    stands in for popularity: a brand-only or category-only query lists that brand's best-described products
    first, a shopper's "flagship". A product shown with a picture gets a little more.
    """
    return round(0.9 * max(0.0, min(1.0, completeness or 0.0)) + (0.1 if has_thumbnail else 0.0), 4)
