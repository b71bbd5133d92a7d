"""Catalog enricher stream processor (built by its own issue)."""
