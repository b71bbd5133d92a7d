"""The retail taxonomy and the rule that puts a product into one of its categories."""

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib import resources
from types import MappingProxyType

from catalog_enricher.domain.facts import ProductFacts, words

# Where a term is found says how much it counts: a product's name says what it is, its attributes describe it, and
# its description also mentions what it goes with ("pairs well with jeans").
FIELD_WEIGHTS: Mapping[str, int] = MappingProxyType({"name": 3, "attributes": 2, "description": 1})

# A single term found only in the description is too weak a hint to classify by.
MIN_SCORE = 2

_PATH = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*(?:/[a-z0-9]+(?:-[a-z0-9]+)*)*")


def _tokens(text: str) -> tuple[str, ...]:
    # Compounds are split so that "t-shirt", "T Shirt" and "t shirt" all match the same term. No stemming: plurals
    # are listed as terms, because cutting an "s" confuses "shorts" with "short" (sleeve) and "chips" with "chip".
    return tuple(part for word in words(text) for part in word.split("-") if part)


@dataclass(frozen=True)
class Category:
    """A category of the taxonomy: its path ("apparel/tops/t-shirts") and the terms that point to it."""

    path: str
    terms: tuple[str, ...]

    @property
    def depth(self) -> int:
        """How many levels the path has."""
        return self.path.count("/") + 1


class Taxonomy:
    """Retail categories, each recognised by trigger terms in a product's name, attributes and description."""

    def __init__(self, categories: Iterable[Category]) -> None:
        self._categories = tuple(categories)
        # Every distinct term of every category, by its first word: a product's words are looked up one by one,
        # instead of testing each of hundreds of terms against each field (the enricher's hottest rule).
        self._by_first_word: dict[str, list[tuple[str, tuple[str, ...]]]] = {}
        seen: set[str] = set()
        for category in self._categories:
            if not _PATH.fullmatch(category.path):
                raise ValueError(f"taxonomy: {category.path!r} is not a path of lower-case slugs joined by '/'")
            if category.path in seen:
                raise ValueError(f"taxonomy: {category.path!r} appears twice")
            seen.add(category.path)
            terms = tuple(dict.fromkeys(_tokens(term) for term in category.terms))
            if not terms or () in terms:
                raise ValueError(f"taxonomy: {category.path!r} needs terms, each with at least one word")
            for term in terms:
                self._by_first_word.setdefault(term[0], []).append((category.path, term))

    @classmethod
    def from_json(cls, text: str) -> "Taxonomy":
        """A taxonomy from a JSON document: {"categories": [{"path": "a/b", "terms": ["...", ...]}, ...]}."""
        document = json.loads(text)
        entries = document.get("categories") if isinstance(document, dict) else None
        if not isinstance(entries, list):
            raise ValueError("taxonomy: the document needs a list of 'categories'")
        categories: list[Category] = []
        for entry in entries:
            path = entry.get("path") if isinstance(entry, dict) else None
            terms = entry.get("terms") if isinstance(entry, dict) else None
            if not isinstance(path, str) or not isinstance(terms, list) or not all(isinstance(t, str) for t in terms):
                raise ValueError(f"taxonomy: each category needs a 'path' string and a 'terms' list, not {entry!r}")
            categories.append(Category(path=path, terms=tuple(terms)))
        return cls(categories)

    @classmethod
    def default(cls) -> "Taxonomy":
        """The taxonomy packaged with the enricher (catalog_enricher/taxonomy.json)."""
        return cls.from_json(resources.files("catalog_enricher").joinpath("taxonomy.json").read_text(encoding="utf-8"))

    @property
    def categories(self) -> tuple[Category, ...]:
        """The categories, in document order."""
        return self._categories

    def scores(self, facts: ProductFacts) -> dict[str, int]:
        """The score of every category with at least one matching term, by path."""
        fields = {
            "name": [_tokens(facts.name)],
            # Each value on its own, so that no term matches across two attribute values.
            "attributes": [_tokens(text) for text in facts.attribute_texts()],
            "description": [_tokens(facts.description or "")],
        }
        scores: dict[str, int] = {}
        for field, runs in fields.items():
            # A term matches where its words are a contiguous run of the field's words. It counts once per field,
            # however often it is repeated there; a term of several words is more specific than one word ("running
            # shoe" over "shoe"), so it counts once per word.
            found: set[tuple[str, tuple[str, ...]]] = set()
            for tokens in runs:
                for start, token in enumerate(tokens):
                    for path, term in self._by_first_word.get(token, ()):
                        if tokens[start : start + len(term)] == term:
                            found.add((path, term))
            for path, term in found:
                scores[path] = scores.get(path, 0) + FIELD_WEIGHTS[field] * len(term)
        return scores

    def classify(self, facts: ProductFacts) -> str | None:
        """The path of the best-matching category, or None when no category scores at least MIN_SCORE."""
        scores = self.scores(facts)
        if not scores:
            return None
        # Ties go to the more specific (deeper) category, then to the alphabetically first path, so that the result
        # never depends on the order of the document.
        best = min(scores, key=lambda path: (-scores[path], -path.count("/"), path))
        return best if scores[best] >= MIN_SCORE else None
