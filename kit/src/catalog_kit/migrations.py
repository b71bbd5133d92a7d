"""Alembic, run from code: each owner of tables keeps its own migration chain and version table.

Every process that starts may run `upgrade`; an advisory lock makes concurrent starts take turns.
"""

from pathlib import Path

from alembic import command, context
from alembic.config import Config
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

_MIGRATION_LOCK = 0x63617461  # "cata"


def upgrade(
    script_location: Path,
    database_url: str,
    *,
    version_table: str = "alembic_version",
    version_table_schema: str | None = None,
    revision: str = "head",
) -> None:
    """Bring the tables owned by the chain at `script_location` to its newest revision (or to `revision`)."""
    config = Config()
    config.set_main_option("script_location", str(script_location))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    config.attributes["version_table"] = version_table
    config.attributes["version_table_schema"] = version_table_schema
    command.upgrade(config, revision)


def run_online() -> None:
    """The body of every `env.py`: migrate over one connection while holding the migration lock."""
    config = context.config
    engine = create_engine(config.get_main_option("sqlalchemy.url") or "", poolclass=NullPool)
    schema = config.attributes.get("version_table_schema")
    with engine.connect() as connection:
        connection.execute(text("SELECT pg_advisory_lock(:k)"), {"k": _MIGRATION_LOCK})
        connection.commit()
        try:
            if schema:
                connection.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
                connection.commit()
            context.configure(
                connection=connection,
                target_metadata=None,
                transaction_per_migration=True,
                version_table=config.attributes.get("version_table", "alembic_version"),
                version_table_schema=schema,
            )
            with context.begin_transaction():
                context.run_migrations()
            connection.commit()
        finally:
            connection.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _MIGRATION_LOCK})
            connection.commit()
    engine.dispose()
