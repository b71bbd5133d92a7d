"""Alembic environment: online migrations only, serialised by an advisory lock."""

from alembic import context
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

config = context.config
engine = create_engine(config.get_main_option("sqlalchemy.url") or "", poolclass=NullPool)

with engine.connect() as connection:
    connection.execute(text("SELECT pg_advisory_lock(:k)"), {"k": config.attributes.get("migration_lock", 0)})
    connection.commit()
    try:
        context.configure(connection=connection, target_metadata=None, transaction_per_migration=True)
        with context.begin_transaction():
            context.run_migrations()
        connection.commit()
    finally:
        connection.execute(text("SELECT pg_advisory_unlock_all()"))
        connection.commit()
engine.dispose()
