"""Opaque page cursors: the last key of a page, which the client passes back unchanged."""

import base64
import binascii
import json
from collections.abc import Callable
from typing import Any, TypeVar

from catalog_api.entrypoints.problems import Problem

K = TypeVar("K")


def encode_cursor(after: str | int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"after": after}).encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None, parse: Callable[[Any], K]) -> K | None:
    """The key a cursor carries, read by `parse`; a cursor this API did not issue is a 400 naming `cursor`."""
    if cursor is None:
        return None
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        return parse(data["after"])
    except (ValueError, KeyError, TypeError, binascii.Error) as exc:
        raise Problem(
            400,
            "bad-cursor",
            "Invalid cursor",
            "pass back next_cursor exactly as received",
            [{"field": "cursor", "message": "not a cursor this API issued", "code": "cursor"}],
        ) from exc
