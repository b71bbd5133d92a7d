"""Secrets stay secret: settings hold them as `SecretStr`, and database URLs are printed with the password masked."""

import pytest
from pydantic import SecretStr

from catalog_kit.db import masked_url
from catalog_kit.settings import CatalogSettings
from catalog_stack.cli import connection_lines


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql+psycopg://catalog:s3cr%40t@db:5432/catalog", "postgresql+psycopg://catalog:***@db:5432/catalog"),
        (
            "postgresql+psycopg://postgres@127.0.0.1:55432/catalog",
            "postgresql+psycopg://postgres@127.0.0.1:55432/catalog",
        ),
        ("postgresql://u@h/db?password=s3cret&sslmode=require", "postgresql://u@h/db?password=***&sslmode=require"),
        ("nonsense://u:s3cret@h/db", "nonsense://u:***@h/db"),
    ],
)
def test_database_urls_are_printed_with_the_password_masked(url: str, shown: str) -> None:
    assert masked_url(url) == shown
    assert masked_url(SecretStr(url)) == shown
    assert connection_lines(url, "k:9092").splitlines()[0] == f"DATABASE_URL={shown}"


def test_secret_settings_do_not_show_in_reprs_or_dumps() -> None:
    settings = CatalogSettings(
        database_url="postgresql+psycopg://catalog:pg-s3cret@db/catalog",
        s3_secret_access_key="s3-s3cret",
        kafka_client_extra={"sasl.password": "kafka-s3cret"},
    )
    shown = f"{settings!r} {settings} {settings.model_dump()} {settings.model_dump_json()}"
    assert "s3cret" not in shown
    assert settings.kafka_client_settings() == {"sasl.password": "kafka-s3cret"}
    assert isinstance(CatalogSettings().database_url, SecretStr)  # the default too
