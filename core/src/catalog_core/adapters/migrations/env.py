"""Alembic environment of the catalog core's migration chain."""

from catalog_kit.migrations import run_online

run_online()
