"""Package boundaries: each service deploys alone, so none imports another, and shared code lives in kit or core."""

import ast
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SERVICES = {path.parents[2].name: path for path in ROOT.glob("services/*/src/catalog_*/__init__.py")}
SERVICE_PACKAGES = {path.parent.name for path in SERVICES.values()}
SERVICE_DISTRIBUTIONS = {
    tomllib.loads((ROOT / "services" / folder / "pyproject.toml").read_text())["project"]["name"] for folder in SERVICES
}
# What each shared package may import of the workspace: the runtime kit knows no catalog, the core no service.
SHARED = {
    "kit/src/catalog_kit": {"catalog_kit", "catalog_schemas"},
    "kit-stream/src/catalog_stream": {"catalog_stream", "catalog_kit", "catalog_schemas"},
    "kit-http/src/catalog_http": {"catalog_http", "catalog_kit"},
    "core/src/catalog_core": {"catalog_core", "catalog_kit", "catalog_schemas"},
    "schemas/src/catalog_schemas": {"catalog_schemas"},
}


def workspace_imports(package: Path) -> dict[str, set[str]]:
    """Top-level `catalog_*` modules imported anywhere in `package` (function bodies included) → the files."""
    found: dict[str, set[str]] = {}
    for file in package.rglob("*.py"):
        for node in ast.walk(ast.parse(file.read_text(), str(file))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            for name in names:
                top = name.split(".")[0]
                if top.startswith("catalog_"):
                    found.setdefault(top, set()).add(str(file.relative_to(ROOT)))
    return found


def test_every_service_is_found() -> None:
    assert {"product-api", "relay", "indexer", "enricher", "media", "importer"} <= SERVICES.keys()


@pytest.mark.parametrize("folder", sorted(SERVICES))
def test_no_service_imports_another(folder: str) -> None:
    own = SERVICES[folder].parent.name
    imported = workspace_imports(SERVICES[folder].parent)
    foreign = {name: files for name, files in imported.items() if name in SERVICE_PACKAGES - {own}}
    assert not foreign, f"{folder} imports other services (share through catalog_core or the kit): {foreign}"


@pytest.mark.parametrize("folder", sorted(SERVICES))
def test_no_service_depends_on_another(folder: str) -> None:
    project = tomllib.loads((ROOT / "services" / folder / "pyproject.toml").read_text())["project"]
    requirements = {req.split("[")[0].split(">")[0].split("=")[0].strip() for req in project["dependencies"]}
    assert not requirements & (SERVICE_DISTRIBUTIONS - {project["name"]})


@pytest.mark.parametrize("package", sorted(SHARED))
def test_shared_packages_import_only_what_is_below_them(package: str) -> None:
    imported = workspace_imports(ROOT / package)
    assert set(imported) <= SHARED[package], {k: v for k, v in imported.items() if k not in SHARED[package]}
