"""Names of invalid fields as clients read them, for HTTP problems and import-ledger rows alike."""

from collections.abc import Sequence


def field_path(loc: Sequence[int | str]) -> str:
    """`("body", "variants", 0, "sku")` → `variants[0].sku`; `("query", "limit")` → `limit`."""
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif part not in ("body", "query", "path", "header") or path:
            path += f".{part}" if path else str(part)
    return path
