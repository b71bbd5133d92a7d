"""The console's session: after a login with an admin key, a signed, expiring cookie stands for that key.

The cookie carries the key's SHA-256 digest (what the platform stores anyway; it cannot be used as a key) and, for
a stored key, its id; never the key. Every request checks it again against `API_KEYS` or the key's live row, so a
revoked key or a lost admin scope ends its sessions at once. The cookie is HttpOnly and SameSite=Strict, and
state-changing console requests must also come from the console's own origin (`same_origin`).
"""

import uuid
from dataclasses import dataclass
from typing import Any

from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.requests import Request

from catalog_api.domain.keys import EnvKey, Principal, digest, same_digest, stored_key_id
from catalog_api.entrypoints.auth import KeyLookup

COOKIE = "catalog_console"
_SALT = "catalog-console-session"


@dataclass(frozen=True)
class SessionKey:
    """The key a session stands for: its digest, and its row's id when it is a stored key."""

    sha256: bytes
    stored_id: uuid.UUID | None


class ConsoleSessions:
    """Issues and reads session cookies (itsdangerous: HMAC-signed, timestamped)."""

    def __init__(self, secret: str, max_age_s: float) -> None:
        self._signer = URLSafeTimedSerializer(secret, salt=_SALT)
        self.max_age_s = max_age_s

    def issue(self, key: str) -> str:
        stored = stored_key_id(key)
        return str(self._signer.dumps({"d": digest(key.encode("ascii")).hex(), "k": stored.hex if stored else None}))

    def read(self, cookie: str | None) -> SessionKey | None:
        """The key of a valid, unexpired cookie; None for anything else (forged, expired, garbled)."""
        if not cookie:
            return None
        try:
            data: Any = self._signer.loads(cookie, max_age=int(self.max_age_s))
            return SessionKey(bytes.fromhex(data["d"]), uuid.UUID(hex=data["k"]) if data["k"] else None)
        except (BadSignature, ValueError, KeyError, TypeError):
            return None


def session_principal(key: SessionKey, env_keys: tuple[EnvKey, ...], lookup: KeyLookup) -> Principal | None:
    """Who the session's key is now: the `API_KEYS` entry or live stored key with that digest."""
    if key.stored_id is not None:
        stored = lookup(key.stored_id)
        return stored.principal if stored is not None and same_digest(key.sha256, stored.sha256) else None
    found = None
    for entry in env_keys:
        if same_digest(key.sha256, entry.digest) and found is None:
            found = entry.principal
    return found


def same_origin(request: Request) -> bool:
    """Whether a state-changing request comes from a page of this origin (Origin, else Referer, must be ours).

    With SameSite=Strict cookies this closes cross-site form posts even on browsers that send the cookie anyway."""
    own = f"{request.url.scheme}://{request.headers.get('host', '')}"
    origin = request.headers.get("origin")
    if origin is not None:
        return origin == own
    referer = request.headers.get("referer")
    return referer is not None and (referer == own or referer.startswith(own + "/"))
