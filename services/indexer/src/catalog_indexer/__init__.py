"""Indexer: owns the search read model (schema `search`), keeps it fresh from product events, serves search."""
