"""Catalog media stream processor (built by its own issue)."""
