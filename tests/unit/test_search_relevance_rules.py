"""The pure rules of matching and ranking a shopper's query."""

import pytest

from catalog_indexer.adapters.search_index import fold, mark
from catalog_indexer.domain.relevance import (
    MATCH_WEIGHTS,
    MAX_WORDS,
    TYPO_SKIP_DOC_FREQ,
    WORD_MATCHED,
    WordPlan,
    plan_words,
    signal,
    typo_distance,
    ways_to_match,
)


@pytest.mark.parametrize(("word", "edits"), [("cap", 0), ("lmap", 1), ("lnien", 1), ("sweater", 1), ("cashmere", 2)])
def test_typos_allowed_grow_with_the_word(word: str, edits: int) -> None:
    assert typo_distance(word) == edits


def test_the_number_of_matched_words_decides_before_how_they_matched() -> None:
    best = max(MATCH_WEIGHTS.values())
    worst = min(MATCH_WEIGHTS.values())
    # Every word matched in the weakest way still beats one word fewer matched in the best way.
    assert MAX_WORDS * (WORD_MATCHED + worst) > (MAX_WORDS - 1) * (WORD_MATCHED + best)
    assert MAX_WORDS * best < WORD_MATCHED


def test_exact_beats_prefix_beats_typo_and_name_beats_keywords_beats_description() -> None:
    w = MATCH_WEIGHTS
    assert w[("exact", "name")] > w[("prefix", "name")] > w[("typo", "name")]
    assert w[("exact", "name")] == w[("exact", "brand")] > w[("exact", "keywords")] == w[("exact", "category")]
    assert w[("exact", "keywords")] > w[("exact", "description")]


def test_plan_keeps_distinct_words_in_order_and_marks_the_last() -> None:
    plans = plan_words(["brisa", "mug", "brisa", "xl"])
    assert [p.word for p in plans] == ["brisa", "mug", "xl"]
    assert [p.last for p in plans] == [False, False, True]
    assert [p.prefix for p in plans] == [True, True, False]  # two letters are no prefix worth looking for
    assert len(plan_words([f"w{i}" for i in range(20)])) == MAX_WORDS


def test_prefixes_for_the_last_word_or_a_word_the_catalog_lacks() -> None:
    middle = WordPlan("velmo", prefix=True, typos=1)
    assert ways_to_match(middle, exact_count=0, sku_typed=False) == (True, 1)
    assert ways_to_match(middle, exact_count=3, sku_typed=False) == (False, 1)
    last = WordPlan("velmo", prefix=True, typos=1, last=True)
    assert ways_to_match(last, exact_count=3, sku_typed=False) == (True, 1)


def test_no_typos_for_a_sku_and_neither_typos_nor_prefixes_for_a_very_common_word() -> None:
    plan = WordPlan("cotton", prefix=True, typos=1, last=True)
    assert ways_to_match(plan, exact_count=5, sku_typed=True) == (True, 0)
    assert ways_to_match(plan, exact_count=TYPO_SKIP_DOC_FREQ, sku_typed=False) == (False, 0)
    assert ways_to_match(plan, exact_count=TYPO_SKIP_DOC_FREQ - 1, sku_typed=False) == (True, 1)


def test_signal_orders_by_completeness_then_picture() -> None:
    assert signal(1.0, True) == 1.0
    assert signal(0.9, False) < signal(0.9, True) < signal(1.0, False) + 0.1
    assert signal(None, False) == 0.0
    assert signal(7.0, False) == 0.9  # out-of-range scores are clamped


def test_highlights_mark_exact_and_prefix_words_whatever_their_accents() -> None:
    assert mark("Crème Brûlée Candle", ["creme", "can"]) == "<mark>Crème</mark> Brûlée <mark>Candle</mark>"
    assert mark("Linen shirt", ["wool"]) is None
    words = " ".join(f"w{i}" for i in range(40)) + " target " + " ".join(f"v{i}" for i in range(40))
    window = mark(words, ["target"], around=6)
    assert window == "w37 w38 w39 <mark>target</mark> v0 v1"
    assert fold("Søndergaard & Co") == "sondergaard co"
    assert fold("Светлица") == "светлица"
