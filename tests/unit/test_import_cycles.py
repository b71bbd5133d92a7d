"""No package of the platform imports itself in a circle: every module of a package is importable on its own.

The graph counts every import a module makes — at the top, inside functions, and under `TYPE_CHECKING` — because
each of them ties the two modules together: a cycle kept alive only by a lazy or type-only import is still a sign that
a shared part belongs in a module of its own.
"""

import ast
from collections.abc import Iterator, Mapping, Set
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SOURCE_ROOTS = ("kit*/src", "core/src", "schemas/src", "services/*/src")


@dataclass(frozen=True)
class Package:
    name: str
    modules: Mapping[str, Path]  # dotted module name -> file


def packages() -> list[Package]:
    found: list[Package] = []
    for pattern in SOURCE_ROOTS:
        for source in sorted(ROOT.glob(pattern)):
            for init in sorted(source.glob("*/__init__.py")):
                top = init.parent
                modules: dict[str, Path] = {}
                for file in sorted(top.rglob("*.py")):
                    parts = file.relative_to(source).with_suffix("").parts
                    if parts[-1] == "__init__":
                        parts = parts[:-1]
                    modules[".".join(parts)] = file
                found.append(Package(top.name, modules))
    return found


def _absolute(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    """The absolute name `from ... import` refers to, relative imports resolved against `module`."""
    if not node.level:
        return node.module or ""
    base = module.split(".")
    if not is_package:
        base = base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, *([node.module] if node.module else [])])


def _known(name: str, modules: Set[str]) -> str | None:
    """The module of the package that an imported name lives in: the longest known prefix, if any."""
    parts = name.split(".")
    for end in range(len(parts), 0, -1):
        candidate = ".".join(parts[:end])
        if candidate in modules:
            return candidate
    return None


def imports_of(module: str, file: Path, modules: Set[str]) -> set[str]:
    """The modules of the same package that `module` imports anywhere in its body."""
    tree = ast.parse(file.read_text(encoding="utf-8"), filename=str(file))
    targets: set[str] = set()
    for node in ast.walk(tree):  # walks into functions, classes and `if TYPE_CHECKING:` blocks alike
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(module, file.name == "__init__.py", node)
            # `from pkg import sub` imports the submodule `pkg.sub` when there is one, otherwise a name of `pkg`.
            names = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base for alias in node.names]
        for name in names:
            target = _known(name, modules)
            if target is not None and target != module:
                targets.add(target)
    return targets


def import_graph(package: Package) -> dict[str, set[str]]:
    names = set(package.modules)
    return {module: imports_of(module, file, names) for module, file in package.modules.items()}


def cycles(graph: Mapping[str, Set[str]]) -> list[list[str]]:
    """One cycle (as a closed path of module names) for every strongly connected group of two or more modules."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[set[str]] = []

    def visit(start: str) -> None:
        # Tarjan's algorithm, iterative so that deep graphs cannot exhaust the recursion limit.
        work: list[tuple[str, Iterator[str]]] = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, edges = work[-1]
            for target in edges:
                if target not in index:
                    index[target] = low[target] = len(index)
                    stack.append(target)
                    on_stack.add(target)
                    work.append((target, iter(sorted(graph[target]))))
                    break
                if target in on_stack:
                    low[node] = min(low[node], index[target])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    group: set[str] = set()
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        group.add(member)
                        if member == node:
                            break
                    if len(group) > 1:
                        groups.append(group)

    for module in sorted(graph):
        if module not in index:
            visit(module)
    return [_path_through(group, graph) for group in groups]


def _path_through(group: Set[str], graph: Mapping[str, Set[str]]) -> list[str]:
    """A shortest cycle through the first module of a strongly connected group, e.g. [a, b, a]."""
    start = min(group)
    paths: dict[str, list[str]] = {start: [start]}
    frontier = [start]
    while frontier:
        following: list[str] = []
        for node in frontier:
            for target in sorted(graph[node] & group):
                if target == start:
                    return [*paths[node], start]
                if target not in paths:
                    paths[target] = [*paths[node], target]
                    following.append(target)
        frontier = following
    raise AssertionError(f"{sorted(group)} is not strongly connected")


PACKAGES = packages()


def test_every_source_root_has_packages() -> None:
    names = {package.name for package in PACKAGES}
    assert {"catalog_kit", "catalog_stream", "catalog_http", "catalog_core", "catalog_schemas"} <= names
    assert {"catalog_api", "catalog_relay", "catalog_enricher", "catalog_media", "catalog_importer"} <= names
    assert "catalog_indexer" in names


@pytest.mark.parametrize("package", PACKAGES, ids=[package.name for package in PACKAGES])
def test_no_import_cycle_between_the_modules_of_a_package(package: Package) -> None:
    found = cycles(import_graph(package))
    assert not found, "import cycles:\n" + "\n".join("  " + " -> ".join(cycle) for cycle in found)


# --- the checker itself --------------------------------------------------------------------------------------------


def test_the_checker_sees_imports_in_functions_and_type_checking_blocks(tmp_path: Path) -> None:
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("")
    (tmp_path / "pkg" / "a.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg.b import B\n"
    )
    (tmp_path / "pkg" / "b.py").write_text("def load() -> None:\n    from . import c\n")
    (tmp_path / "pkg" / "c.py").write_text("import pkg.a\n")
    (tmp_path / "pkg" / "d.py").write_text("from pkg import a, b\n")
    modules = {f"pkg.{name}": tmp_path / "pkg" / f"{name}.py" for name in "abcd"}
    graph = import_graph(Package("pkg", {"pkg": tmp_path / "pkg" / "__init__.py", **modules}))
    assert graph == {
        "pkg": set(),
        "pkg.a": {"pkg.b"},
        "pkg.b": {"pkg.c"},
        "pkg.c": {"pkg.a"},
        "pkg.d": {"pkg.a", "pkg.b"},
    }
    assert cycles(graph) == [["pkg.a", "pkg.b", "pkg.c", "pkg.a"]]


def test_the_checker_finds_no_cycle_in_a_tree() -> None:
    assert cycles({"a": {"b", "c"}, "b": {"c"}, "c": set()}) == []
