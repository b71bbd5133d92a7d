"""Alembic environment of the media service's migration chain."""

from catalog_kit.migrations import run_online

run_online()
