"""Alembic environment of the product API's migration chain."""

from catalog_kit.migrations import run_online

run_online()
