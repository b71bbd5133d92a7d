"""Catalog importer: runs supplier-feed import jobs through the catalog's one write path."""
