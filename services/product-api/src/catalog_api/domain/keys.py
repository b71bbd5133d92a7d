"""API keys: the scopes a key carries, who a caller is, and the keys' text forms (pure: no I/O).

A key is a bearer secret. The platform keeps only its SHA-256 digest: keys are random (256 bits), so a fast hash
is as good as a slow one against guessing, and a digest that leaks lets no one call the API. Digests are compared
with `hmac.compare_digest` on bytes, whatever the caller sent.

Two sources of keys:

- stored keys (`catalog-keys create`): `catalog_<id>_<secret>`, the id (hex of a UUID) naming the row that holds
  the digest, its name and scopes, so a lookup is one primary-key read and a revocation is one row;
- `API_KEYS` for development: `key=scope1+scope2,key2`; a key without `=scopes` has `catalog:read+catalog:write`.
"""

import hashlib
import hmac
import re
import secrets
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from functools import cache


class Scope(StrEnum):
    READ = "catalog:read"  # private reads: import jobs and their ledgers
    WRITE = "catalog:write"  # products, image uploads, imports
    ADMIN = "admin"  # everything, and everyone's jobs; operator views


SCOPE_MEANINGS = {
    Scope.READ: "private reads: the caller's import jobs and their row ledgers",
    Scope.WRITE: "create, change and delete products, upload images, submit, cancel and retry the caller's imports",
    Scope.ADMIN: "every scope, on every caller's import jobs, with the worker details",
}
DEFAULT_SCOPES = frozenset({Scope.READ, Scope.WRITE})
_SCOPE_NAMES = frozenset(scope.value for scope in Scope)
SCOPE_SEPARATOR = "+"

KEY_PREFIX = "catalog_"
# RFC 6750 b64token: what a bearer value may hold. Anything else (non-ASCII, spaces, control bytes) is refused
# before any comparison.
_BEARER_VALUE = re.compile(r"[A-Za-z0-9\-._~+/]+=*")
MAX_KEY_LENGTH = 256  # keys made here have 84 characters; longer values are refused unread
_STORED_KEY = re.compile(rf"{KEY_PREFIX}([0-9a-f]{{32}})_[A-Za-z0-9_\-]{{20,}}")


class InvalidKeys(ValueError):
    """`API_KEYS` or a scope list cannot be read. The message never quotes a key."""


@dataclass(frozen=True)
class Principal:
    """Who calls: `id` is what import jobs record in `submitted_by`; `name` is for people."""

    id: str
    name: str
    scopes: frozenset[Scope]

    def allows(self, scope: Scope) -> bool:
        return scope in self.scopes or Scope.ADMIN in self.scopes

    @property
    def is_admin(self) -> bool:
        return Scope.ADMIN in self.scopes

    @property
    def owner_filter(self) -> str | None:
        """Whose jobs the caller may see and change: its own, or (None) everyone's for an admin."""
        return None if self.is_admin else self.id


def parse_scopes(text: str) -> frozenset[Scope]:
    """`catalog:read+catalog:write` (or with commas) → scopes; an unknown name raises `InvalidKeys`."""
    names = [name.strip() for name in re.split(r"[+,]", text) if name.strip()]
    unknown = [name for name in names if name not in _SCOPE_NAMES]
    if not names:
        raise InvalidKeys("no scope")
    if unknown:
        raise InvalidKeys(f"unknown scope(s) {', '.join(map(repr, unknown))}; known: {', '.join(Scope)}")
    return frozenset(Scope(name) for name in names)


def stored_scopes(names: Iterable[str]) -> frozenset[Scope]:
    """The scopes of a stored key; a name this version does not know grants nothing (rather than failing)."""
    return frozenset(Scope(name) for name in names if name in _SCOPE_NAMES)


def digest(key: bytes) -> bytes:
    return hashlib.sha256(key).digest()


def new_key(key_id: uuid.UUID) -> str:
    return f"{KEY_PREFIX}{key_id.hex}_{secrets.token_urlsafe(32)}"


def well_formed(value: str) -> bool:
    """Whether a bearer value may be a key at all: not empty, not too long, only b64token characters."""
    return 0 < len(value) <= MAX_KEY_LENGTH and _BEARER_VALUE.fullmatch(value) is not None


def stored_key_id(value: str) -> uuid.UUID | None:
    """The id of the stored key `value` claims to be, if it has that form."""
    match = _STORED_KEY.fullmatch(value)
    return uuid.UUID(match.group(1)) if match else None


def same_digest(a: bytes, b: bytes) -> bool:
    return hmac.compare_digest(a, b)


@dataclass(frozen=True)
class EnvKey:
    """A key from `API_KEYS`: its digest (the key itself is not kept) and who it makes the caller."""

    digest: bytes
    principal: Principal


@cache
def parse_api_keys(text: str) -> tuple[EnvKey, ...]:
    """`API_KEYS` → keys. Raises `InvalidKeys` naming the entry by position, never by its text.

    Each entry's principal id is the first 16 hex digits of its key's SHA-256, as import jobs recorded it before
    keys had scopes, so a development database keeps its jobs' owners.
    """
    keys = []
    for position, entry in enumerate((e.strip() for e in text.split(",")), start=1):
        if not entry:
            continue
        key, separator, scope_text = entry.partition("=")
        try:
            scopes = parse_scopes(scope_text) if separator else DEFAULT_SCOPES
        except InvalidKeys as exc:
            raise InvalidKeys(f"API_KEYS entry {position}: {exc}") from None
        if not well_formed(key):
            raise InvalidKeys(f"API_KEYS entry {position}: a key is 1 to {MAX_KEY_LENGTH} of A-Z a-z 0-9 - . _ ~ + /")
        key_digest = digest(key.encode())
        principal = Principal(key_digest.hex()[:16], f"API_KEYS entry {position}", scopes)
        keys.append(EnvKey(key_digest, principal))
    return tuple(keys)
