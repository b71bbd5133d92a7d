"""Database engine and sessions (SQLAlchemy 2 over psycopg 3)."""

from sqlalchemy import Engine, create_engine
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker


def make_engine(database_url: str, pool_size: int = 10) -> Engine:
    """An engine whose pool checks connections before use, so a database restart costs one retry, not an outage."""
    return create_engine(database_url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True)


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def libpq_conninfo(database_url: str) -> str:
    """The plain libpq URL of a SQLAlchemy URL, for code that talks to psycopg directly (LISTEN, advisory locks)."""
    url = make_url(database_url).set(drivername="postgresql")
    return url.render_as_string(hide_password=False)
