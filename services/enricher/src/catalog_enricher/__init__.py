"""Catalog enricher stream processor: keywords, slug, category, price band and completeness of every product."""
