"""Alembic environment of the enricher's migration chain."""

from catalog_kit.migrations import run_online

run_online()
