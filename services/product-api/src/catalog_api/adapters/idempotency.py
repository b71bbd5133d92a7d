"""Stored responses of idempotent requests, written in the same transaction as the effect they describe."""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Column, DateTime, Integer, MetaData, Table, Text, func, select, update
from sqlalchemy.dialects.postgresql import JSONB, insert
from sqlalchemy.orm import Session

metadata = MetaData()

# Created by this service's own migration chain (`catalog_api.migrations`).
idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("key", Text, primary_key=True),
    Column("request_hash", Text, nullable=False),
    Column("status_code", Integer),
    Column("body", JSONB),
    Column("headers", JSONB),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)


class IdempotencyKeyReused(Exception):
    """The key was used before with a different request body."""


@dataclass(frozen=True)
class StoredResponse:
    status_code: int
    body: Any
    headers: dict[str, str]


class IdempotencyStore:
    def __init__(self, session: Session, ttl: timedelta) -> None:
        self.session = session
        self.ttl = ttl

    def claim(self, key: str, request_hash: str) -> StoredResponse | None:
        """None if this request now owns the key; the first response if the same request was seen before.

        A concurrent request with the same key waits here until the first one commits (unique index).
        """
        inserted = self.session.execute(
            insert(idempotency_keys)
            .values(key=key, request_hash=request_hash)
            .on_conflict_do_nothing()
            .returning(idempotency_keys.c.key)
        ).first()
        if inserted:
            return None
        row = self.session.execute(
            select(idempotency_keys).where(idempotency_keys.c.key == key).with_for_update()
        ).one()
        if row.created_at < datetime.now(UTC) - self.ttl:
            self.session.execute(
                update(idempotency_keys)
                .where(idempotency_keys.c.key == key)
                .values(
                    request_hash=request_hash,
                    status_code=None,
                    body=None,
                    headers=None,
                    created_at=datetime.now(UTC),
                )
            )
            return None
        if row.request_hash != request_hash:
            raise IdempotencyKeyReused(key)
        return StoredResponse(row.status_code, row.body, row.headers or {})

    def complete(self, key: str, response: StoredResponse) -> None:
        self.session.execute(
            update(idempotency_keys)
            .where(idempotency_keys.c.key == key)
            .values(status_code=response.status_code, body=response.body, headers=response.headers)
        )
