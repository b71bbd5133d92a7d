"""The facts of a product that enrichment reads, and the folding of its text into comparable words."""

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from types import MappingProxyType
from typing import Any

# Letters that Unicode does not decompose into a base letter plus accent, yet readers expect folded ("Ørsted" is
# searched as "orsted"). "ß" needs no entry: casefold() already turns it into "ss". U+0131 is the Turkish dotless i.
_UNDECOMPOSED = str.maketrans({"æ": "ae", "œ": "oe", "ø": "o", "ł": "l", "đ": "d", "ð": "d", "þ": "th", "\u0131": "i"})

_WORD = re.compile(r"[^\W_]+(?:-[^\W_]+)*")


def fold(text: str) -> str:
    """The text in lower case with the accents of Latin letters removed ("Crème Brûlée" -> "creme brulee")."""
    if text.isascii():
        return text.lower()  # the same result for ASCII text, without the per-character loop below (the hot path)
    kept: list[str] = []
    for char in unicodedata.normalize("NFKD", text.casefold().translate(_UNDECOMPOSED)):
        # Only marks on ASCII base letters are accents to drop; in other scripts (e.g. Cyrillic "й") they are part
        # of the letter and stay.
        if unicodedata.combining(char) and kept and kept[-1].isascii():
            continue
        kept.append(char)
    return unicodedata.normalize("NFC", "".join(kept))


def words(text: str) -> list[str]:
    """The folded words of a text, hyphenated compounds ("t-shirt", "usb-c") kept whole."""
    return _WORD.findall(fold(text))


@dataclass(frozen=True)
class ProductFacts:
    """The core fields of a product that the enrichment rules read."""

    id: str
    version: int
    sku: str
    name: str
    brand: str | None
    description: str | None
    price: Decimal
    currency: str
    attributes: Mapping[str, object]
    images: tuple[str, ...]
    variant_count: int

    @classmethod
    def from_snapshot(cls, snapshot: Mapping[str, Any]) -> "ProductFacts":
        """The facts of a product snapshot (the data of product.created/updated); unknown keys are ignored."""
        brand = snapshot.get("brand")
        description = snapshot.get("description")
        return cls(
            id=str(snapshot["id"]),
            version=int(snapshot["version"]),
            sku=str(snapshot["sku"]),
            name=str(snapshot["name"]),
            brand=None if brand is None else str(brand),
            description=None if description is None else str(description),
            # Through str() so that a price that arrived as a JSON number does not carry binary-float noise.
            price=Decimal(str(snapshot["price"])),
            currency=str(snapshot["currency"]).upper(),
            attributes=MappingProxyType(dict(snapshot.get("attributes") or {})),
            images=tuple(str(image) for image in snapshot.get("images") or ()),
            variant_count=len(snapshot.get("variants") or ()),
        )

    def attribute_texts(self) -> tuple[str, ...]:
        """The attributes as text, by attribute name: string values, and the names of attributes that are true."""
        texts: list[str] = []
        for key in sorted(self.attributes):
            value = self.attributes[key]
            for item in value if isinstance(value, list | tuple) else (value,):
                # A number alone ("42") says nothing without its unit or attribute, and `false` names an absence;
                # `true` makes the attribute's name a property of the product ("waterproof").
                if item is True:
                    texts.append(key)
                elif isinstance(item, str):
                    texts.append(item)
        return tuple(texts)
