"""The product API's own tables: stored responses of idempotent requests."""

from pathlib import Path

from catalog_kit import migrations

VERSION_TABLE = "alembic_version_product_api"


def upgrade(database_url: str) -> None:
    """Bring the product API's tables to their newest revision."""
    migrations.upgrade(Path(__file__).parent, database_url, version_table=VERSION_TABLE)
