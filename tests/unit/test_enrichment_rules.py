"""The enricher's pure rules: keywords, slug, price band, completeness, taxonomy and the result they make."""

import json
import re
from decimal import Decimal
from typing import Any

import pytest

from catalog_enricher.domain.facts import ProductFacts, fold
from catalog_enricher.domain.rules import (
    MAX_KEYWORDS,
    MAX_SLUG_LENGTH,
    RECOMMENDED_FIELDS,
    Completeness,
    EnrichmentResult,
    completeness,
    enrich,
    extract_keywords,
    price_band,
    slugify,
)
from catalog_enricher.domain.taxonomy import Category, Taxonomy

SLUG_PATTERN = r"[a-z0-9]+(-[a-z0-9]+)*"  # the pattern of product.enriched's `slug`


def snapshot(**changes: Any) -> dict[str, Any]:
    """The data of a product.updated event, as the product API writes it."""
    return {
        "id": "0190f0b4-5a7e-7c3d-9f1e-2b6a8c4d0e11",
        "sku": "TEE-001",
        "name": "Linen T-Shirt",
        "brand": "Acme",
        "description": "A breathable tee, woven from European flax.",
        "price": "19.90",
        "currency": "EUR",
        "stock": 12,
        "attributes": {"color": "ecru", "material": "linen", "sizes": ["S", "M", "L"], "organic": True},
        "images": ["https://img.example.com/tee-001/front.jpg"],
        "status": "active",
        "variants": [
            {"id": "0190f0b4-5a7e-7c3d-9f1e-2b6a8c4d0e12", "sku": "TEE-001-S", "options": {"size": "S"}, "price": None},
            {"id": "0190f0b4-5a7e-7c3d-9f1e-2b6a8c4d0e13", "sku": "TEE-001-M", "options": {"size": "M"}, "price": None},
        ],
        "version": 3,
        "created_at": "2024-05-01T10:00:00Z",
        "updated_at": "2024-05-02T09:30:00Z",
        **changes,
    }


def facts(**changes: Any) -> ProductFacts:
    return ProductFacts.from_snapshot(snapshot(**changes))


@pytest.fixture(scope="module")
def taxonomy() -> Taxonomy:
    return Taxonomy.default()


# --- ProductFacts --------------------------------------------------------------------------------------------------


def test_facts_from_a_realistic_snapshot() -> None:
    product = facts()
    assert product.id == "0190f0b4-5a7e-7c3d-9f1e-2b6a8c4d0e11"
    assert product.version == 3
    assert product.sku == "TEE-001"
    assert product.name == "Linen T-Shirt"
    assert product.brand == "Acme"
    assert product.description == "A breathable tee, woven from European flax."
    assert product.price == Decimal("19.90")
    assert product.currency == "EUR"
    assert product.attributes == {"color": "ecru", "material": "linen", "sizes": ["S", "M", "L"], "organic": True}
    assert product.images == ("https://img.example.com/tee-001/front.jpg",)
    assert product.variant_count == 2


def test_facts_tolerate_null_and_absent_optional_fields() -> None:
    product = ProductFacts.from_snapshot(
        {"id": "p1", "version": 1, "sku": "AB", "name": "Mug", "price": "8", "currency": "eur", "brand": None}
    )
    assert (product.brand, product.description) == (None, None)
    assert product.attributes == {}
    assert product.images == ()
    assert product.variant_count == 0
    assert product.currency == "EUR"


def test_facts_do_not_share_the_snapshots_attributes() -> None:
    data = snapshot()
    product = ProductFacts.from_snapshot(data)
    data["attributes"]["color"] = "black"
    assert product.attributes["color"] == "ecru"


def test_attribute_texts_are_strings_and_names_of_true_attributes_by_name() -> None:
    product = facts(attributes={"size": 42, "waterproof": True, "vegan": False, "tags": ["trail", 3, True], "a": "x"})
    assert product.attribute_texts() == ("x", "trail", "tags", "waterproof")


# --- keywords ------------------------------------------------------------------------------------------------------


def test_fold_lowers_and_removes_accents_of_latin_letters_only() -> None:
    assert fold("Crème Brûlée") == "creme brulee"
    assert fold("Straße Ørsted Œuvre") == "strasse orsted oeuvre"
    assert fold("Зелёный") == "зелёный"  # the diaeresis is part of the Cyrillic letter


def test_keywords_come_from_name_brand_attributes_and_description_in_that_order() -> None:
    product = facts(
        name="Linen Tee",
        brand="Acme",
        description="Soft linen, cut loose.",
        attributes={"color": "Ecru"},
    )
    assert extract_keywords(product) == ("linen", "tee", "acme", "ecru", "soft", "cut", "loose")


def test_keywords_are_folded_and_deduplicated_across_case_and_accents() -> None:
    product = facts(name="Crème CREME crème", brand="Crème", description="crême", attributes={})
    assert extract_keywords(product) == ("creme",)


def test_keywords_drop_stop_words_numbers_and_single_letters() -> None:
    product = facts(
        name="The tee for men's summer",
        brand=None,
        description="Made with 100 % cotton und für den Sommer, pour l'été.",
        attributes={},
    )
    assert extract_keywords(product) == ("tee", "men", "summer", "made", "cotton", "sommer", "ete")


def test_keywords_keep_hyphenated_compounds_and_non_latin_words() -> None:
    product = facts(name="USB-C charger", brand=None, description="Зарядное устройство 充電器", attributes={})
    assert extract_keywords(product) == ("usb-c", "charger", "зарядное", "устройство", "充電器")


def test_keywords_take_attribute_words_but_not_bare_numbers_or_false_flags() -> None:
    product = facts(
        name="Shell jacket",
        brand=None,
        description=None,
        attributes={"size": 42, "waterproof": True, "packable": False, "colors": ["Navy", "Olive"]},
    )
    assert extract_keywords(product) == ("shell", "jacket", "navy", "olive", "waterproof")


def test_extra_keywords_are_normalised_and_rank_before_the_description() -> None:
    product = facts(name="Linen tee", brand=None, description="Relaxed fit.", attributes={})
    assert extract_keywords(product, extra=["T-Shirt", "tee", "Été"]) == (
        "linen",
        "tee",
        "t-shirt",
        "ete",
        "relaxed",
        "fit",
    )


def test_keywords_are_bounded_and_the_description_is_cut_first() -> None:
    description = " ".join(f"word{n}" for n in range(100))
    product = facts(name="Linen tee", brand="Acme", description=description, attributes={})
    keywords = extract_keywords(product)
    assert len(keywords) == MAX_KEYWORDS
    assert keywords[:3] == ("linen", "tee", "acme")
    assert keywords[-1] == f"word{MAX_KEYWORDS - 4}"


# --- slug ----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "brand", "slug"),
    [
        ("Linen T-Shirt", "Acme", "acme-linen-t-shirt"),
        ("Acme Linen Tee", "ACME", "acme-linen-tee"),  # the brand is not repeated
        ("Linen tee by Acme", "Acme", "linen-tee-by-acme"),
        ("Crème Brûlée Kerze — 200 g", None, "creme-brulee-kerze-200-g"),
        ("  ***Große  Straße*** ", None, "grosse-strasse"),
        ("Ørsted's Œuvre", "Dr. Ö", "dr-o-orsted-s-oeuvre"),
        ("Kopfhörer", "", "kopfhorer"),
    ],
)
def test_slug_of_brand_and_name(name: str, brand: str | None, slug: str) -> None:
    assert slugify(facts(name=name, brand=brand)) == slug


@pytest.mark.parametrize(
    ("name", "brand", "sku", "slug"),
    [
        ("Чай зелёный", None, "TEA_001.green", "tea-001-green"),
        ("緑茶", "Muji", "TEA-001", "muji-tea-001"),
        ("★★★", None, "X9", "x9"),
    ],
)
def test_slug_falls_back_to_the_sku_when_the_name_has_no_latin_words(
    name: str, brand: str | None, sku: str, slug: str
) -> None:
    assert slugify(facts(name=name, brand=brand, sku=sku)) == slug


def test_long_slugs_are_cut_at_a_word_boundary() -> None:
    slug = slugify(facts(name=" ".join(["handwoven"] * 20), brand=None))
    assert len(slug) <= MAX_SLUG_LENGTH
    assert slug == "-".join(["handwoven"] * 8)


def test_a_single_overlong_word_is_cut_hard() -> None:
    assert slugify(facts(name="x" * 200, brand=None)) == "x" * MAX_SLUG_LENGTH


@pytest.mark.parametrize("name", ["Linen T-Shirt", "Чай", "--", "A" * 300, "Ünïcödé ✓ name"])
def test_slugs_always_match_the_event_pattern(name: str) -> None:
    assert re.fullmatch(SLUG_PATTERN, slugify(facts(name=name)))


# --- price band ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("price", "currency", "band"),
    [
        ("0", "EUR", "budget"),
        ("24.99", "EUR", "budget"),
        ("25.00", "EUR", "mid"),
        ("99.99", "EUR", "mid"),
        ("100", "EUR", "premium"),
        ("499.99", "EUR", "premium"),
        ("500", "EUR", "luxury"),
        ("26.00", "USD", "budget"),  # about 24 EUR
        ("28.00", "USD", "mid"),
        ("540", "USD", "premium"),  # about 497 EUR
        ("545", "USD", "luxury"),
        ("3500", "JPY", "budget"),  # about 22 EUR
        ("15000", "JPY", "mid"),
        ("98000", "JPY", "luxury"),
        ("250", "gbp", "premium"),
    ],
)
def test_price_bands_judge_prices_in_approximate_eur(price: str, currency: str, band: str) -> None:
    assert price_band(Decimal(price), currency) == band


@pytest.mark.parametrize("price", ["1", "150000", "99999999"])
def test_an_unknown_currency_gets_the_middle_band(price: str) -> None:
    assert price_band(Decimal(price), "XYZ") == "mid"


# --- completeness --------------------------------------------------------------------------------------------------


def test_a_product_with_every_recommended_field_is_complete() -> None:
    assert completeness(facts(), "apparel/tops/t-shirts") == Completeness(score=1.0, missing=())


def test_completeness_lists_what_is_missing_in_a_stable_order() -> None:
    product = facts(brand="  ", description=None, images=[], attributes={"color": "", "sizes": []})
    result = completeness(product, None)
    assert result.missing == RECOMMENDED_FIELDS
    assert result.score == 0.0


@pytest.mark.parametrize(
    ("changes", "category", "score", "missing"),
    [
        ({"images": []}, "apparel/tops/t-shirts", 0.8, ("images",)),
        ({"description": "—", "brand": None}, "apparel/tops/t-shirts", 0.6, ("brand", "description")),
        ({"attributes": {"organic": False}}, None, 0.8, ("category",)),  # false is information
        ({"attributes": {}, "images": []}, None, 0.4, ("images", "attributes", "category")),
    ],
)
def test_completeness_score_is_the_share_of_recommended_fields_present(
    changes: dict[str, Any], category: str | None, score: float, missing: tuple[str, ...]
) -> None:
    assert completeness(facts(**changes), category) == Completeness(score=score, missing=missing)


# --- taxonomy ------------------------------------------------------------------------------------------------------


def test_the_packaged_taxonomy_is_a_realistic_retail_tree(taxonomy: Taxonomy) -> None:
    paths = [c.path for c in taxonomy.categories]
    assert 30 <= len(paths) <= 60
    assert len(set(paths)) == len(paths)
    top = {path.split("/")[0] for path in paths}
    assert top == {"apparel", "footwear", "electronics", "home-kitchen", "beauty", "sports", "toys", "grocery"}


@pytest.mark.parametrize(
    ("name", "description", "attributes", "category"),
    [
        ("Linen T-Shirt", None, {}, "apparel/tops/t-shirts"),
        ("Oxford shirt, long sleeve", None, {}, "apparel/tops/shirts"),
        ("Trail Running Shoes Gel-X", None, {}, "footwear/running-shoes"),
        ("Kopfhörer ANC 700", None, {}, "electronics/audio/headphones"),
        ("Grüner Tee Sencha", None, {}, "grocery/coffee-tea/tea"),  # two words beat the one of "tee" (t-shirt)
        ("Espresso machine Barista Pro", None, {}, "home-kitchen/appliances/coffee-machines"),
        ("Fußball Größe 5", None, {}, "sports/team-sports/balls"),
        ("Crème visage hydratante", None, {}, "beauty/skincare"),
        ("Poêle en fonte 28 cm", None, {}, "home-kitchen/cookware/pans"),
        ("Classic", None, {"type": "Hoodie"}, "apparel/tops/hoodies"),
        ("Model 7", "A tent for two, with a sleeping bag pocket.", {}, "sports/outdoor/camping"),
    ],
)
def test_classify_products(
    taxonomy: Taxonomy, name: str, description: str | None, attributes: dict[str, Any], category: str
) -> None:
    assert taxonomy.classify(facts(name=name, description=description, attributes=attributes)) == category


def test_the_name_outweighs_the_description(taxonomy: Taxonomy) -> None:
    product = facts(name="Slim jeans", description="Pairs well with a linen t-shirt.", attributes={})
    assert taxonomy.classify(product) == "apparel/bottoms/jeans"


def test_no_match_gives_no_category(taxonomy: Taxonomy) -> None:
    assert taxonomy.classify(facts(name="Gift card", description=None, attributes={})) is None


def test_a_single_mention_in_the_description_is_too_weak(taxonomy: Taxonomy) -> None:
    product = facts(name="Gift card", description="Treat yourself to a new mug.", attributes={})
    assert taxonomy.scores(product) == {"home-kitchen/tableware/mugs-cups": 1}
    assert taxonomy.classify(product) is None


def tiny_taxonomy(*categories: tuple[str, list[str]]) -> Taxonomy:
    return Taxonomy.from_json(json.dumps({"categories": [{"path": p, "terms": t} for p, t in categories]}))


def test_ties_go_to_the_deeper_category() -> None:
    taxonomy = tiny_taxonomy(("home/lamps", ["lamp"]), ("home/lamps/desk-lamps", ["lamp"]))
    assert taxonomy.classify(facts(name="Brass lamp", description=None, attributes={})) == "home/lamps/desk-lamps"


def test_ties_of_equal_depth_go_to_the_alphabetically_first_path_whatever_the_document_order() -> None:
    product = facts(name="Brass lamp", description=None, attributes={})
    forwards = tiny_taxonomy(("outdoor/lamps", ["lamp"]), ("home/lamps", ["lamp"]))
    backwards = tiny_taxonomy(("home/lamps", ["lamp"]), ("outdoor/lamps", ["lamp"]))
    assert forwards.classify(product) == backwards.classify(product) == "home/lamps"


def test_a_higher_score_beats_a_deeper_path() -> None:
    taxonomy = tiny_taxonomy(("home/lamps", ["lamp", "brass"]), ("home/lamps/desk-lamps", ["lamp"]))
    assert taxonomy.classify(facts(name="Brass lamp", description=None, attributes={})) == "home/lamps"


def test_terms_match_whole_words_in_sequence_regardless_of_case_accents_and_hyphens() -> None:
    taxonomy = tiny_taxonomy(("apparel/t-shirts", ["T-Shirt"]), ("home/decor", ["crème"]))
    assert taxonomy.classify(facts(name="t shirt", description=None, attributes={})) == "apparel/t-shirts"
    assert taxonomy.classify(facts(name="CREME pot", description=None, attributes={})) == "home/decor"
    assert taxonomy.classify(facts(name="Shirt", description=None, attributes={})) is None
    assert taxonomy.classify(facts(name="Cremes", description=None, attributes={})) is None


def test_terms_do_not_match_across_two_attribute_values() -> None:
    taxonomy = tiny_taxonomy(("footwear/running-shoes", ["running shoes"]))
    apart = facts(name="Model 7", description=None, attributes={"activity": "running", "kind": "shoes"})
    together = facts(name="Model 7", description=None, attributes={"kind": "Running Shoes"})
    assert taxonomy.classify(apart) is None
    assert taxonomy.classify(together) == "footwear/running-shoes"


@pytest.mark.parametrize(
    "document",
    [
        "[]",
        '{"categories": {}}',
        '{"categories": [{"path": "a"}]}',
        '{"categories": [{"path": "A/B", "terms": ["x"]}]}',
        '{"categories": [{"path": "a/b", "terms": []}]}',
        '{"categories": [{"path": "a/b", "terms": ["!!"]}]}',
        '{"categories": [{"path": "a", "terms": ["x"]}, {"path": "a", "terms": ["y"]}]}',
    ],
)
def test_malformed_taxonomies_are_refused(document: str) -> None:
    with pytest.raises(ValueError, match="taxonomy"):
        Taxonomy.from_json(document)


def test_category_depth() -> None:
    assert Category("apparel/tops/t-shirts", ("tee",)).depth == 3


# --- the result ----------------------------------------------------------------------------------------------------


def test_enrich_combines_every_rule(taxonomy: Taxonomy) -> None:
    result = enrich(facts(), taxonomy, extra_keywords=["tee"])
    assert result == EnrichmentResult(
        product_id="0190f0b4-5a7e-7c3d-9f1e-2b6a8c4d0e11",
        computed_from_version=3,
        keywords=("linen", "t-shirt", "acme", "ecru", "organic", "tee", "breathable", "woven", "european", "flax"),
        slug="acme-linen-t-shirt",
        category="apparel/tops/t-shirts",
        price_band="budget",
        completeness=Completeness(score=1.0, missing=()),
    )


def test_event_data_has_the_shape_of_product_enriched(taxonomy: Taxonomy) -> None:
    data = enrich(facts(images=[], price="120.00"), taxonomy).to_event_data()
    assert data == {
        "id": "0190f0b4-5a7e-7c3d-9f1e-2b6a8c4d0e11",
        "version": 3,
        "keywords": ["linen", "t-shirt", "acme", "ecru", "organic", "breathable", "tee", "woven", "european", "flax"],
        "slug": "acme-linen-t-shirt",
        "category": "apparel/tops/t-shirts",
        "price_band": "premium",
        "completeness": {"score": 0.8, "missing": ["images"]},
    }
    assert json.loads(json.dumps(data)) == data


def test_event_data_of_an_unclassified_product_has_a_null_category(taxonomy: Taxonomy) -> None:
    data = enrich(facts(name="Gift card", description=None, attributes={}), taxonomy).to_event_data()
    assert data["category"] is None
    assert data["completeness"] == {"score": 0.4, "missing": ["description", "attributes", "category"]}
