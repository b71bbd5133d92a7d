"""The catalog database's core chain: products, variants, SKUs, the outbox, import jobs and their ledger."""

from pathlib import Path

from catalog_kit import migrations

VERSION_TABLE = "alembic_version_catalog"


def upgrade(database_url: str) -> None:
    """Bring the catalog core's tables to their newest revision."""
    migrations.upgrade(Path(__file__).parent, database_url, version_table=VERSION_TABLE)
