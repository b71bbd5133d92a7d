"""Who calls, and whether they may: a request's bearer key → its `Principal`, or a 401 / 403 problem.

Whatever the caller sends — no header, another scheme, an empty, huge or non-ASCII value — is a 401, decided
before any comparison, and never echoed back or logged. A key is matched by its digest in constant time: against
every `API_KEYS` entry, or (for the `catalog_<id>_…` form) against the stored digest of that id.
"""

import uuid
from collections.abc import Callable, Sequence

from catalog_api.adapters.api_keys import KeyDigest
from catalog_api.domain.keys import EnvKey, Principal, Scope, digest, same_digest, stored_key_id, well_formed
from catalog_api.entrypoints.problems import Problem

KeyLookup = Callable[[uuid.UUID], KeyDigest | None]


def bearer_value(authorization: str | None) -> str | None:
    """The key an `Authorization: Bearer <key>` header presents, if it could be a key at all."""
    scheme, _, value = (authorization or "").partition(" ")
    if scheme.lower() != "bearer":
        return None
    value = value.strip(" ")
    return value if well_formed(value) else None


def env_principal(value: str, keys: Sequence[EnvKey]) -> Principal | None:
    """The `API_KEYS` entry `value` is, compared with every entry (no early exit) on the digests' bytes."""
    presented = digest(value.encode("ascii"))
    found = None
    for key in keys:
        if same_digest(presented, key.digest) and found is None:
            found = key.principal
    return found


def stored_principal(value: str, lookup: KeyLookup) -> Principal | None:
    """The live stored key `value` is: the row its id names, if the digests match."""
    key_id = stored_key_id(value)
    stored = lookup(key_id) if key_id is not None else None
    if stored is None or not same_digest(digest(value.encode("ascii")), stored.sha256):
        return None
    return stored.principal


def unauthenticated(presented: bool) -> Problem:
    # RFC 6750: a request without credentials gets a bare challenge; one with bad credentials is told so.
    challenge = 'Bearer error="invalid_token"' if presented else "Bearer"
    return Problem(
        401,
        "unauthorized",
        "Unauthorized",
        "this operation needs Authorization: Bearer <key> with a valid key",
        headers={"WWW-Authenticate": challenge},
    )


def forbidden(scope: Scope) -> Problem:
    return Problem(
        403,
        "forbidden",
        "Forbidden",
        f"this operation needs a key with scope {scope}",
        headers={"WWW-Authenticate": f'Bearer error="insufficient_scope", scope="{scope}"'},
    )


def check_scope(principal: Principal, scope: Scope) -> Principal:
    if not principal.allows(scope):
        raise forbidden(scope)
    return principal
