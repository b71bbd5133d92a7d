"""The validation rules every product write goes through (API and importer alike)."""

from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from catalog_core.domain.products import ProductDraft
from catalog_kit.field_paths import field_path


def draft(**changes: Any) -> dict[str, Any]:
    return {"sku": "TEE-001", "name": "Linen tee", "price": "19.90", "currency": "EUR", **changes}


def errors(data: dict[str, Any]) -> dict[str, str]:
    """{field path: error code} of an invalid draft."""
    with pytest.raises(ValidationError) as info:
        ProductDraft.model_validate(data)
    return {field_path(e["loc"]): e["type"] for e in info.value.errors()}


def test_minimal_product_is_valid_with_defaults() -> None:
    product = ProductDraft.model_validate(draft())
    assert product.status == "active"
    assert product.stock == 0
    assert product.price == Decimal("19.90")
    assert product.variants == []


@pytest.mark.parametrize("sku", ["A", "-LEADING-DASH", "has space", "x" * 65, "sku/slash", ""])
def test_bad_skus_are_refused(sku: str) -> None:
    assert "sku" in errors(draft(sku=sku))


@pytest.mark.parametrize("sku", ["AB", "tee_001.blue-XL", "9" * 64])
def test_good_skus_pass(sku: str) -> None:
    assert ProductDraft.model_validate(draft(sku=sku)).sku == sku


def test_name_length_limits() -> None:
    assert errors(draft(name=""))["name"] == "string_too_short"
    assert errors(draft(name="n" * 201))["name"] == "string_too_long"
    assert errors(draft(name="   "))["name"] == "string_too_short"


@pytest.mark.parametrize(
    ("price", "currency", "ok"),
    [
        ("19.99", "EUR", True),
        ("19.999", "EUR", False),
        ("1200", "JPY", True),
        ("1200.5", "JPY", False),
        ("1.234", "BHD", True),
        ("1.2345", "BHD", False),
        ("19.90", "usd", True),
        ("-1", "EUR", False),
        ("NaN", "EUR", False),
    ],
)
def test_price_decimals_follow_the_currency(price: str, currency: str, ok: bool) -> None:
    if ok:
        assert ProductDraft.model_validate(draft(price=price, currency=currency)).currency == currency.upper()
    else:
        assert "price" in errors(draft(price=price, currency=currency))


def test_trailing_zeros_do_not_count_as_decimals() -> None:
    assert ProductDraft.model_validate(draft(price="1200.000", currency="JPY")).price == Decimal(1200)


def test_unknown_currency_is_named() -> None:
    assert errors(draft(currency="XYZ")) == {"currency": "currency"}


def test_attribute_limits() -> None:
    assert "attributes" in errors(draft(attributes={f"k{i}": "v" for i in range(101)}))
    assert errors(draft(attributes={"color": "x" * 1001})) == {"attributes.color": "attribute_value"}
    assert errors(draft(attributes={"dims": {"w": 1}})) == {"attributes.dims": "attribute_value"}
    assert errors(draft(attributes={f"k{i}": "v" * 900 for i in range(30)})) == {"attributes": "attributes_size"}
    assert ProductDraft.model_validate(draft(attributes={"sizes": ["S", "M"], "organic": True, "gsm": 180}))


def test_images_must_be_http_urls() -> None:
    assert errors(draft(images=["https://img.example/a.jpg", "ftp://img.example/b.jpg", "not a url"])) == {
        "images[1]": "image_url",
        "images[2]": "image_url",
    }
    assert "images" in errors(draft(images=[f"https://img.example/{i}.jpg" for i in range(21)]))


def test_unknown_fields_are_refused_by_name() -> None:
    assert errors(draft(colour="red")) == {"colour": "extra_forbidden"}


def test_variant_rules() -> None:
    variants = [
        {"sku": "TEE-001-S", "options": {"size": "S"}, "stock": 2},
        {"sku": "tee-001-s", "options": {"size": "M"}},
        {"sku": "TEE-001-L", "options": {"size": "S"}},
        {"sku": "TEE-001-XL", "options": {"colour": "red"}, "price": "9.999"},
        {"sku": "tee-001", "options": {"size": "XS"}},
    ]
    assert errors(draft(variants=variants)) == {
        "variants[1].sku": "duplicate_sku",
        "variants[2].options": "duplicate_options",
        "variants[3].options": "option_names",
        "variants[3].price": "price_decimals",
        "variants[4].sku": "duplicate_sku",
    }


def test_stock_of_a_product_with_variants_is_theirs() -> None:
    product = ProductDraft.model_validate(
        draft(
            stock=99,
            variants=[
                {"sku": "V-1", "options": {"size": "S"}, "stock": 2},
                {"sku": "V-2", "options": {"size": "M"}, "stock": 3},
            ],
        )
    )
    assert product.total_stock == 5
    assert product.skus() == ["TEE-001", "V-1", "V-2"]
