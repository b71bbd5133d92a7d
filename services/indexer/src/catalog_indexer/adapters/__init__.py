"""Indexer I/O: the search read model in PostgreSQL (writes and queries) and its migrations."""
