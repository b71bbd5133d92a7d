"""Input containing NUL (U+0000) is refused with a 422 naming the field, before it reaches the database.

PostgreSQL text can not hold NUL: such a value used to reach a query and fail there as a server error. No field
of the catalog has a use for it, so the HTTP services refuse it up front, for every route, as one app-wide
dependency: `FastAPI(dependencies=[Depends(refuse_nul_characters)])`.
"""

from collections.abc import Iterator
from typing import Any

from fastapi import Request

from catalog_http.problems import validation_problem

NUL = "\x00"


async def refuse_nul_characters(request: Request) -> None:
    """Raise a validation problem if a path or query parameter, or a string (or key) of a JSON body, holds NUL."""
    locations: list[tuple[str | int, ...]] = [
        ("path", name) for name, value in request.path_params.items() if NUL in str(value)
    ]
    locations += [("query", name) for name, value in request.query_params.multi_items() if NUL in name + value]
    # Only a body that the route parses as JSON, which FastAPI has read already; streamed uploads stay unread.
    if getattr(request.scope.get("route"), "body_field", None) is not None and _is_json(request):
        try:
            body = await request.json()
        except ValueError:
            body = None  # not JSON: FastAPI has answered that with its own validation problem
        locations += [("body", *path) for path in _nul_paths(body)]
    if locations:
        raise validation_problem(
            [
                {"loc": _printable(loc), "msg": "must not contain NUL characters", "type": "nul_character"}
                for loc in locations
            ]
        )


def _is_json(request: Request) -> bool:
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    return media_type == "application/json" or media_type.endswith("+json")


def _nul_paths(value: Any, path: tuple[str | int, ...] = ()) -> Iterator[tuple[str | int, ...]]:
    if isinstance(value, str):
        if NUL in value:
            yield path
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from ([(*path, key)] if NUL in key else _nul_paths(item, (*path, key)))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _nul_paths(item, (*path, index))


def _printable(loc: tuple[str | int, ...]) -> tuple[str | int, ...]:
    """The location with NUL itself spelled `\\0`, so the problem names the field legibly."""
    return tuple(part.replace(NUL, "\\0") if isinstance(part, str) else part for part in loc)
