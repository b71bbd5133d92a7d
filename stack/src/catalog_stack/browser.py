"""Debian's Chromium for the console's browser tests: found where it is, else installed with apt-get (once)."""

import shutil
from pathlib import Path

from catalog_stack import apt

_CANDIDATES = ("chromium", "chromium-browser")


def chromium() -> Path:
    """The Chromium executable; installs Debian's `chromium` package when none is there. Raises when neither
    works: a browser test must fail, not pass without a browser."""
    found = _find()
    if found is None and apt.install("chromium"):
        found = _find()
    if found is None:
        raise RuntimeError(
            "no Chromium: install Debian's chromium package (apt-get install chromium), or run as root with apt-get"
        )
    return found


def _find() -> Path | None:
    for name in _CANDIDATES:
        where = shutil.which(name)
        if where:
            return Path(where)
    fallback = Path("/usr/bin/chromium")
    return fallback if fallback.exists() else None
