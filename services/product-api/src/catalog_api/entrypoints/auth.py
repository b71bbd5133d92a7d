"""Who may write: a bearer key from `API_KEYS`; every write endpoint depends on `deps.WriterKey`, which asks here."""

import hashlib
import hmac
from collections.abc import Sequence

from catalog_api.entrypoints.problems import Problem


def writer_key(authorization: str | None, write_keys: Sequence[str]) -> str:
    """The caller's principal (a digest of its key) if `authorization` names a write key; a 401 problem otherwise."""
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not any(hmac.compare_digest(token, key) for key in write_keys):
        raise Problem(
            401,
            "unauthorized",
            "Unauthorized",
            "writes need Authorization: Bearer <key>",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return hashlib.sha256(token.encode()).hexdigest()[:16]
