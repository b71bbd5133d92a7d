"""Each service installs alone: its locked dependencies into a scratch venv, then its entrypoints import there.

A service that does not serve HTTP must not bring FastAPI, one that does not consume must not bring aiokafka: the
proof is that the module cannot even be found in its environment.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# distribution → (entrypoint modules, frameworks that must be absent)
SERVICES = {
    "catalog-relay": (["catalog_relay.entrypoints.relay"], ["fastapi", "aiokafka", "faust", "alembic", "boto3"]),
    "catalog-product-api": (["catalog_api.entrypoints.http"], ["aiokafka", "faust"]),
    "catalog-enricher": (["catalog_enricher.entrypoints.worker"], ["fastapi", "boto3"]),
    "catalog-media": (["catalog_media.entrypoints.worker", "catalog_media.entrypoints.regenerate"], ["fastapi"]),
    "catalog-importer": (["catalog_importer.entrypoints.worker"], ["fastapi"]),
    "catalog-indexer": (["catalog_indexer.entrypoints.worker", "catalog_indexer.entrypoints.search_api"], ["boto3"]),
    "catalog-webhooks": (["catalog_webhooks.entrypoints.worker"], ["fastapi", "boto3"]),
}


def uv() -> str:
    local = ROOT / ".local" / "tools" / "bin" / "uv"
    found = str(local) if local.exists() else shutil.which("uv")
    if not found:
        pytest.skip("uv is installed by `make install`; run the suite through `make test`")
    return found


@pytest.mark.parametrize("distribution", sorted(SERVICES))
def test_service_installs_and_imports_alone(distribution: str, tmp_path: Path) -> None:
    modules, absent = SERVICES[distribution]
    env = {**os.environ, "UV_PYTHON_DOWNLOADS": "never", "VIRTUAL_ENV": ""}
    requirements = tmp_path / "requirements.txt"
    run = [uv(), "--quiet"]
    subprocess.run(
        [*run, "export", "--package", distribution, "--no-dev", "--frozen", "--no-hashes", "-o", str(requirements)],
        cwd=ROOT,
        env=env,
        check=True,
    )
    venv = tmp_path / "venv"
    subprocess.run([*run, "venv", str(venv), "--python", sys.executable], cwd=ROOT, env=env, check=True)
    python = str(venv / "bin" / "python")
    subprocess.run([*run, "pip", "install", "--python", python, "-r", str(requirements)], cwd=ROOT, env=env, check=True)
    probe = (
        "import importlib, importlib.util, sys\n"
        f"for name in {modules!r}: importlib.import_module(name)\n"
        f"present = [name for name in {absent!r} if importlib.util.find_spec(name)]\n"
        "sys.exit(f'installed but not needed: {present}' if present else 0)\n"
    )
    result = subprocess.run([python, "-c", probe], cwd=tmp_path, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr or result.stdout
