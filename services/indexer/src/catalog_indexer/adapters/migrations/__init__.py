"""Migrations of the search read model, versioned in its own schema."""

from pathlib import Path

from catalog_kit import migrations

SCHEMA = "search"


def upgrade(database_url: str, revision: str = "head") -> None:
    migrations.upgrade(Path(__file__).parent, database_url, version_table_schema=SCHEMA, revision=revision)
