"""The enricher's own tables: derived product fields."""

from pathlib import Path

from catalog_kit import migrations

VERSION_TABLE = "alembic_version_enricher"


def upgrade(database_url: str) -> None:
    """Bring the enricher's tables to their newest revision."""
    migrations.upgrade(Path(__file__).parent, database_url, version_table=VERSION_TABLE)
