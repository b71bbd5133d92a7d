"""The product as clients write it, and every rule a write must satisfy.

`ProductDraft` is the one validation of core product data: the API and the importer both go through it.
"""

import json
import math
from decimal import Decimal
from typing import Annotated, Any, Literal, Self
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PlainValidator,
    StringConstraints,
    ValidationError,
    WithJsonSchema,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from catalog_core.domain.currencies import MINOR_UNITS

SKU_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{1,63}$"
MAX_PRICE = Decimal("1000000000")
MAX_ATTRIBUTES = 100
MAX_ATTRIBUTE_VALUE_LENGTH = 1000
MAX_ATTRIBUTES_JSON_BYTES = 16 * 1024
MAX_ATTRIBUTE_LIST = 50
MAX_IMAGES = 20
MAX_VARIANTS = 100

Sku = Annotated[str, StringConstraints(strip_whitespace=True, pattern=SKU_PATTERN)]
AttributeKey = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
OptionValue = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
Status = Literal["draft", "active", "archived"]


def _known_currency(code: str) -> str:
    code = code.upper()
    if code not in MINOR_UNITS:
        raise PydanticCustomError("currency", "unknown ISO 4217 currency code {code}", {"code": code})
    return code


def _attribute_value(value: Any) -> Any:
    """A scalar or a list of scalars; one precise error rather than one per union member."""
    items = value if isinstance(value, list) else [value]
    if isinstance(value, list) and len(value) > MAX_ATTRIBUTE_LIST:
        raise PydanticCustomError(
            "attribute_value", "at most {limit} values are allowed", {"limit": MAX_ATTRIBUTE_LIST}
        )
    for item in items:
        if not isinstance(item, str | int | float | bool) or item is None:
            raise PydanticCustomError("attribute_value", "must be a string, number, boolean or a list of those")
        if isinstance(item, str) and len(item) > MAX_ATTRIBUTE_VALUE_LENGTH:
            raise PydanticCustomError(
                "attribute_value", "values are limited to {limit} characters", {"limit": MAX_ATTRIBUTE_VALUE_LENGTH}
            )
        if isinstance(item, float) and not math.isfinite(item):
            raise PydanticCustomError("attribute_value", "numbers must be finite")
    return value


_SCALAR_SCHEMA: dict[str, Any] = {"type": ["string", "number", "boolean"]}
AttributeValue = Annotated[
    Any,
    PlainValidator(_attribute_value),
    WithJsonSchema({"oneOf": [_SCALAR_SCHEMA, {"type": "array", "items": _SCALAR_SCHEMA}]}),
]


def _http_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise PydanticCustomError("image_url", "image must be an absolute http(s) URL")
    return url


Currency = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=3, max_length=3), AfterValidator(_known_currency)
]
ImageUrl = Annotated[str, StringConstraints(strip_whitespace=True, max_length=2048), AfterValidator(_http_url)]
Price = Annotated[Decimal, Field(ge=0, le=MAX_PRICE, allow_inf_nan=False)]


class VariantDraft(BaseModel):
    """A sellable variation of a product, told apart from its siblings by its option values."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    sku: Sku
    options: dict[AttributeKey, OptionValue] = Field(min_length=1, max_length=10)
    price: Price | None = Field(default=None, description="null: the product's price applies.")
    stock: int = Field(default=0, ge=0, le=1_000_000_000)


class ProductDraft(BaseModel):
    """The core fields of a product as a client or a supplier feed gives them."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    sku: Sku
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    brand: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)] | None = None
    description: Annotated[str, StringConstraints(max_length=10_000)] | None = None
    price: Price
    currency: Currency
    stock: int = Field(default=0, ge=0, le=1_000_000_000, description="Ignored when variants are given.")
    attributes: dict[AttributeKey, AttributeValue] = Field(default_factory=dict, max_length=MAX_ATTRIBUTES)
    images: list[ImageUrl] = Field(default_factory=list, max_length=MAX_IMAGES)
    status: Status = "active"
    variants: list[VariantDraft] = Field(default_factory=list, max_length=MAX_VARIANTS)

    @model_validator(mode="after")
    def _cross_field_rules(self) -> Self:
        errors = list(_cross_field_errors(self))
        if errors:
            raise ValidationError.from_exception_data("ProductDraft", errors)
        return self

    @property
    def total_stock(self) -> int:
        """Units on hand: a product with variants has exactly its variants' stock."""
        return sum(v.stock for v in self.variants) if self.variants else self.stock

    def skus(self) -> list[str]:
        """Every SKU this product occupies (its own and its variants'): unique across the whole catalog."""
        return [self.sku, *(v.sku for v in self.variants)]


# `json.dumps(..., default=str)` without building an encoder per call.
_ATTRIBUTES_JSON = json.JSONEncoder(default=str).encode


def _error(loc: tuple[str | int, ...], kind: str, message: str, value: Any, **ctx: Any) -> InitErrorDetails:
    return InitErrorDetails(type=PydanticCustomError(kind, message, ctx or None), loc=loc, input=value)


def _cross_field_errors(draft: ProductDraft) -> list[InitErrorDetails]:
    errors: list[InitErrorDetails] = []
    decimals = MINOR_UNITS[draft.currency]
    prices: list[tuple[tuple[str | int, ...], Decimal]] = [(("price",), draft.price)]
    prices += [(("variants", i, "price"), v.price) for i, v in enumerate(draft.variants) if v.price is not None]
    for loc, price in prices:
        exponent = price.normalize().as_tuple().exponent
        if isinstance(exponent, int) and -exponent > decimals:
            errors.append(
                _error(
                    loc,
                    "price_decimals",
                    "{currency} prices have at most {decimals} decimals",
                    str(price),
                    currency=draft.currency,
                    decimals=decimals,
                )
            )
    size = len(_ATTRIBUTES_JSON(draft.attributes).encode())
    if size > MAX_ATTRIBUTES_JSON_BYTES:
        errors.append(
            _error(
                ("attributes",),
                "attributes_size",
                "attributes take {size} bytes as JSON, at most {limit} are allowed",
                None,
                size=size,
                limit=MAX_ATTRIBUTES_JSON_BYTES,
            )
        )
    seen_skus = {draft.sku.lower(): "sku"}
    seen_options: set[tuple[tuple[str, str], ...]] = set()
    option_names = set(draft.variants[0].options) if draft.variants else set()
    for i, variant in enumerate(draft.variants):
        if variant.sku.lower() in seen_skus:
            errors.append(
                _error(
                    ("variants", i, "sku"),
                    "duplicate_sku",
                    "SKU {sku} is already used by {other}",
                    variant.sku,
                    sku=variant.sku,
                    other=seen_skus[variant.sku.lower()],
                )
            )
        seen_skus.setdefault(variant.sku.lower(), f"variants[{i}].sku")
        if set(variant.options) != option_names:
            errors.append(
                _error(
                    ("variants", i, "options"),
                    "option_names",
                    "every variant must have the same option names as the first: {names}",
                    variant.options,
                    names=", ".join(sorted(option_names)),
                )
            )
        combination = tuple(sorted(variant.options.items()))
        if combination in seen_options:
            errors.append(
                _error(
                    ("variants", i, "options"),
                    "duplicate_options",
                    "another variant already has these option values",
                    variant.options,
                )
            )
        seen_options.add(combination)
    return errors
