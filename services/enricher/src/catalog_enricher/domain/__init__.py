"""Pure enrichment rules: keywords, slug, category, price band and completeness of a product."""
