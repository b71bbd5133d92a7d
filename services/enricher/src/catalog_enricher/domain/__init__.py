"""Pure enrichment rules: a product's facts and words, keywords, slug, category, price band and completeness."""
