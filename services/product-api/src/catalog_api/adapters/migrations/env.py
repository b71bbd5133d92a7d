"""Alembic environment of the catalog schema."""

from catalog_kit.migrations import run_online

run_online()
