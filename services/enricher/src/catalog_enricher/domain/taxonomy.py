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


def _phrase(tokens: Iterable[str]) -> str:
    # Padding with spaces turns "is the term a contiguous run of the text's tokens" into a substring test.
    return f" {' '.join(tokens)} "


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
        # Per category: each distinct term as a padded phrase, with its number of words.
        self._triggers: list[tuple[str, tuple[tuple[str, int], ...]]] = []
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
            self._triggers.append((category.path, tuple((_phrase(term), len(term)) for term in terms)))

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
            "name": _phrase(_tokens(facts.name)),
            # Each value padded on its own, so that no term matches across two attribute values.
            "attributes": "".join(_phrase(_tokens(text)) for text in facts.attribute_texts()),
            "description": _phrase(_tokens(facts.description or "")),
        }
        scores: dict[str, int] = {}
        for path, terms in self._triggers:
            # A term of several words is more specific than one word ("running shoe" over "shoe"), so it counts once
            # per word; a term counts once per field, however often it is repeated there.
            score = sum(
                FIELD_WEIGHTS[field] * length
                for phrase, length in terms
                for field, text in fields.items()
                if phrase in text
            )
            if score:
                scores[path] = score
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
