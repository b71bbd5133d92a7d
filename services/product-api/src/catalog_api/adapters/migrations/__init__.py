"""Alembic migrations of the catalog database, runnable from code (`upgrade`) or the alembic CLI."""

from pathlib import Path

from alembic import command
from alembic.config import Config

# Every process that starts may run `upgrade`; this lock makes concurrent starts take turns.
_MIGRATION_LOCK = 0x63617461  # "cata"


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(Path(__file__).parent))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    config.attributes["migration_lock"] = _MIGRATION_LOCK
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    """Bring the catalog schema to `revision`."""
    command.upgrade(alembic_config(database_url), revision)
