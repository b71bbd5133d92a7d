"""Who may write: a bearer key from `API_KEYS`; the product and import endpoints share this dependency."""

import hashlib
import hmac
from collections.abc import Callable, Sequence
from typing import Annotated

from fastapi import Header

from catalog_api.entrypoints.problems import Problem


def bearer_writer(write_keys: Sequence[str]) -> Callable[..., str]:
    """A FastAPI dependency: the caller's principal (a digest of its key) if it may write; 401 otherwise."""
    keys = list(write_keys)

    def writer(authorization: Annotated[str | None, Header()] = None) -> str:
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not any(hmac.compare_digest(token, key) for key in keys):
            raise Problem(
                401,
                "unauthorized",
                "Unauthorized",
                "writes need Authorization: Bearer <key>",
                headers={"WWW-Authenticate": "Bearer"},
            )
        return hashlib.sha256(token.encode()).hexdigest()[:16]

    return writer
