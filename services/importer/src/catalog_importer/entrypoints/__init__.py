"""Importer processes."""
