"""Database engine and sessions (SQLAlchemy 2 over psycopg 3), and database URLs fit to print.

A database URL may carry a password, so settings hold it as a `SecretStr`; the functions here take either form and
reveal it only to make a connection.
"""

import re

from pydantic import SecretStr
from sqlalchemy import Engine, create_engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.orm import Session, sessionmaker

MASK = "***"
# Query parameters libpq reads a password or a secret from (`?password=`, `?sslpassword=`).
_SECRET_QUERY = re.compile(r"(?i)\b((?:ssl)?password=)[^&]*")
# `scheme://user:password@host` in a string SQLAlchemy cannot parse.
_USERINFO_PASSWORD = re.compile(r"(//[^/:@]*:)[^@/]*(@)")


def revealed(database_url: str | SecretStr) -> str:
    return database_url.get_secret_value() if isinstance(database_url, SecretStr) else database_url


def make_engine(database_url: str | SecretStr, pool_size: int = 10) -> Engine:
    """An engine whose pool checks connections before use, so a database restart costs one retry, not an outage."""
    return create_engine(revealed(database_url), pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True)


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def libpq_conninfo(database_url: str | SecretStr) -> str:
    """The plain libpq URL of a SQLAlchemy URL, for code that talks to psycopg directly (LISTEN, advisory locks)."""
    url = make_url(revealed(database_url)).set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


def masked_url(database_url: str | SecretStr) -> str:
    """The URL with its password (and any password query parameter) replaced by `***`: what may be printed."""
    text = revealed(database_url)
    try:
        url = make_url(text)
    except ArgumentError:
        # Not a URL SQLAlchemy reads; mask what looks like a password anyway rather than print it.
        return _SECRET_QUERY.sub(rf"\g<1>{MASK}", _USERINFO_PASSWORD.sub(rf"\g<1>{MASK}\g<2>", text))
    query = {name: (MASK if _SECRET_QUERY.match(f"{name}=") else value) for name, value in url.query.items()}
    # The mask is a placeholder, not a value: shown as written rather than percent-encoded.
    return url.set(query=query).render_as_string(hide_password=True).replace("%2A%2A%2A", MASK)
