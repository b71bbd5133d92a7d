"""Stored API keys (the product API's own table, `api_keys`): create, list, revoke, and find one to authenticate.

Only a key's SHA-256 digest is stored; the key itself exists once, in what `create` returns.
"""

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Column, DateTime, LargeBinary, MetaData, Row, Table, Text, func, insert, select, update
from sqlalchemy.dialects.postgresql import ARRAY, UUID
from sqlalchemy.orm import Session

from catalog_api.domain.keys import Principal, Scope, digest, new_key, stored_scopes

metadata = MetaData()

# Created by this service's own migration chain (`catalog_api.adapters.migrations`, revision 0002).
api_keys = Table(
    "api_keys",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("name", Text, nullable=False),
    Column("scopes", ARRAY(Text), nullable=False),
    Column("key_sha256", LargeBinary, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("revoked_at", DateTime(timezone=True)),
)


def principal_id(key_id: uuid.UUID) -> str:
    """What import jobs record as `submitted_by` for a stored key."""
    return f"key:{key_id}"


@dataclass(frozen=True)
class StoredKey:
    """A key as listed: everything but its secret (which is not stored) and its digest (which is not shown)."""

    id: uuid.UUID
    name: str
    scopes: tuple[str, ...]
    created_at: datetime
    revoked_at: datetime | None


@dataclass(frozen=True)
class KeyDigest:
    """What authentication needs of a live stored key."""

    sha256: bytes
    principal: Principal


class ApiKeys:
    """The `api_keys` table inside the caller's transaction."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def create(self, name: str, scopes: Iterable[Scope]) -> tuple[StoredKey, str]:
        """A new key: its row, and the key itself — to hand to its user now; it cannot be shown again."""
        key_id = uuid.uuid4()
        key = new_key(key_id)
        row = self.session.execute(
            insert(api_keys)
            .values(id=key_id, name=name, scopes=sorted(scopes), key_sha256=digest(key.encode()))
            .returning(api_keys)
        ).one()
        return _stored(row), key

    def listing(self, *, include_revoked: bool = False) -> list[StoredKey]:
        query = select(api_keys).order_by(api_keys.c.created_at, api_keys.c.id)
        if not include_revoked:
            query = query.where(api_keys.c.revoked_at.is_(None))
        return [_stored(row) for row in self.session.execute(query)]

    def revoke(self, key_id: uuid.UUID) -> StoredKey | None:
        """Revoke a key (at once, for every API process); None if there is no such key. Revoking twice keeps the
        first time."""
        row = self.session.execute(
            update(api_keys)
            .where(api_keys.c.id == key_id)
            .values(revoked_at=func.coalesce(api_keys.c.revoked_at, func.now()))
            .returning(api_keys)
        ).one_or_none()
        return None if row is None else _stored(row)

    def live_digest(self, key_id: uuid.UUID) -> KeyDigest | None:
        """The digest and principal of a key that is not revoked."""
        row = self.session.execute(
            select(api_keys.c.name, api_keys.c.scopes, api_keys.c.key_sha256).where(
                api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None)
            )
        ).one_or_none()
        if row is None:
            return None
        return KeyDigest(bytes(row.key_sha256), Principal(principal_id(key_id), row.name, stored_scopes(row.scopes)))


def _stored(row: Row[Any]) -> StoredKey:
    return StoredKey(row.id, row.name, tuple(row.scopes), row.created_at, row.revoked_at)
