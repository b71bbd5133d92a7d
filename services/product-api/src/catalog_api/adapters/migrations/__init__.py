"""Alembic migrations of the catalog database (products, variants, outbox, …)."""

from pathlib import Path

from catalog_kit import migrations


def upgrade(database_url: str) -> None:
    """Bring the catalog schema to its newest revision."""
    migrations.upgrade(Path(__file__).parent, database_url)
