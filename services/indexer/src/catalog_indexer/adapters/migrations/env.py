"""Alembic environment of the search read model."""

from catalog_kit.migrations import run_online

run_online()
