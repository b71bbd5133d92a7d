"""Catalog importer stream processor (built by its own issue)."""
