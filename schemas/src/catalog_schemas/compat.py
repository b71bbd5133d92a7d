"""Refuses incompatible changes to a released contract: `python -m catalog_schemas.compat [released-dir]`.

Within one major version a schema may only gain optional properties and descriptions. Removing or renaming a
property, making a required property optional, or changing a property's type, enum, pattern or format needs a new
major version (a new file and, for a topic's data, a new topic version).

`$id` is the schema's identity, not a promise about the data: moving the files under another base (they moved
from relative to absolute `$id`s) is compatible. A `$ref` is compared by the file and fragment it points to, so
spelling the same target relatively or absolutely is not a change either.
"""

import json
import sys
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

_CONSTRAINTS = ("type", "enum", "pattern", "format", "$ref", "oneOf", "additionalProperties", "minimum", "maximum")


def incompatibilities(released: dict[str, Any], current: dict[str, Any], path: str = "") -> list[str]:
    """What `current` breaks of the promises `released` made, as readable lines."""
    problems = [
        f"{path or '/'}: {key} changed"
        for key in _CONSTRAINTS
        if _strip({key: released.get(key)}) != _strip({key: current.get(key)})
    ]
    if isinstance(released.get("items"), dict):
        problems += incompatibilities(released["items"], current.get("items") or {}, f"{path}[]")
    for name in set(released.get("required", [])) - set(current.get("required", [])):
        problems.append(f"{path}/{name}: no longer required")
    for name, schema in released.get("properties", {}).items():
        if name not in current.get("properties", {}):
            problems.append(f"{path}/{name}: removed")
        else:
            problems += incompatibilities(schema, current["properties"][name], f"{path}/{name}")
    for name, schema in released.get("$defs", {}).items():
        problems += incompatibilities(schema, current.get("$defs", {}).get(name, {}), f"{path}/$defs/{name}")
    return problems


def _strip(schema: Any) -> Any:
    """The schema without prose, which may change freely, and with `$ref`s reduced to their target."""
    if isinstance(schema, dict):
        return {
            k: _ref_target(v) if k == "$ref" else _strip(v)
            for k, v in schema.items()
            if k not in ("description", "title", "examples", "$id")
        }
    if isinstance(schema, list):
        return [_strip(v) for v in schema]
    return schema


def _ref_target(ref: Any) -> Any:
    """`https://…/schemas/product-snapshot.v1.json#/x` and `product-snapshot.v1.json#/x` name the same target."""
    if not isinstance(ref, str) or ref.startswith("#"):
        return ref
    parts = urlsplit(ref)
    name = parts.path.rsplit("/", 1)[-1]
    return f"{name}#{parts.fragment}" if parts.fragment else name


def check(released_dir: Path) -> list[str]:
    events = resources.files("catalog_schemas").joinpath("events")
    problems = []
    for released_file in sorted(released_dir.glob("*.json")):
        current_file = events.joinpath(released_file.name)
        if not current_file.is_file():
            problems.append(f"{released_file.name}: released schema removed")
            continue
        released = json.loads(released_file.read_text())
        current = json.loads(current_file.read_text())
        problems += [f"{released_file.name}{p}" for p in incompatibilities(released, current)]
    return problems


def main() -> None:
    released_dir = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parents[2] / "released"
    problems = check(released_dir)
    for problem in problems:
        print(problem)
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
