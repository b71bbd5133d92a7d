"""Signatures in the style of Standard Webhooks: what the dispatcher sends, and how a receiver checks it.

Headers: `webhook-id` (the same for every attempt of a message), `webhook-timestamp` (Unix seconds of this attempt)
and `webhook-signature` = `v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<body>">`, keyed with the bytes the secret
`whsec_<base64>` stands for. Several space-separated signatures may be sent (e.g. while a secret rotates); one
that matches is enough. Receivers use `verify` (pure: no I/O).
"""

import base64
import hashlib
import hmac
import time
from collections.abc import Mapping

from catalog_core.domain.webhooks import secret_key

SIGNATURE_VERSION = "v1"
DEFAULT_TOLERANCE_S = 300  # five minutes either way, as Standard Webhooks recommends


class InvalidSignature(Exception):
    """The message is not from the holder of the secret, was changed, or is too old (a replay)."""


def signature(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """`v1,<base64 HMAC-SHA256(key, "<id>.<timestamp>.<body>")>`."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret_key(secret), signed, hashlib.sha256).digest()
    return f"{SIGNATURE_VERSION},{base64.b64encode(digest).decode()}"


def signed_headers(secret: str, message_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The three headers of one attempt."""
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature(secret, message_id, timestamp, body),
    }


def verify(
    secret: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    tolerance_s: int = DEFAULT_TOLERANCE_S,
    now: float | None = None,
) -> None:
    """Accept a delivery or raise InvalidSignature. `headers` keys are looked up lower-cased; `body` is the raw
    request body as received (re-serialised JSON would not match)."""
    lowered = {name.lower(): value for name, value in headers.items()}
    message_id = lowered.get("webhook-id")
    stamp = lowered.get("webhook-timestamp")
    sent = lowered.get("webhook-signature")
    if not message_id or not stamp or not sent:
        raise InvalidSignature("missing webhook-id, webhook-timestamp or webhook-signature")
    try:
        timestamp = int(stamp)
    except ValueError:
        raise InvalidSignature("webhook-timestamp is not an integer") from None
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance_s:
        raise InvalidSignature("webhook-timestamp is outside the tolerance")
    expected = signature(secret, message_id, timestamp, body).encode()
    for candidate in sent.split():
        # compare_digest: the time taken says nothing about how much of a guess was right.
        if candidate.startswith(f"{SIGNATURE_VERSION},") and hmac.compare_digest(candidate.encode(), expected):
            return
    raise InvalidSignature("no signature matches")
