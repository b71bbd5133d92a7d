"""The media service's own tables: processed images."""

from pathlib import Path

from catalog_kit import migrations

VERSION_TABLE = "alembic_version_media"


def upgrade(database_url: str, revision: str = "head") -> None:
    """Bring the media service's tables to their newest revision (or to `revision`)."""
    migrations.upgrade(Path(__file__).parent, database_url, version_table=VERSION_TABLE, revision=revision)
