"""Catalog indexer stream processor (built by its own issue)."""
