"""Debian packages the local stack needs, installed on first use where we may (root with apt-get)."""

import logging
import os
import shutil
import subprocess

log = logging.getLogger(__name__)


def can_install() -> bool:
    return os.geteuid() == 0 and shutil.which("apt-get") is not None


def install(*packages: str) -> bool:
    """`apt-get install` the packages; False where that is not possible. Raises when apt-get fails."""
    if not can_install():
        return False
    log.info("installing Debian packages", extra={"packages": list(packages)})
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    command = ["apt-get", "install", "-y", "-q", *packages]
    if subprocess.run(command, capture_output=True, text=True, check=False, env=env).returncode == 0:
        return True
    # A fresh machine has no package lists yet (or stale ones): refresh them once and try again.
    _run(["apt-get", "update", "-q"], env)
    _run(command, env)
    return True


def _run(command: list[str], env: dict[str, str]) -> None:
    result = subprocess.run(command, capture_output=True, text=True, check=False, env=env)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed ({result.returncode}): {result.stderr[-2000:]}")
