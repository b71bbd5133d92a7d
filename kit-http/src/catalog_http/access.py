"""Who may call which operation: one table per app, from (method, path) to the scope the caller's key needs.

The table is the one place an app decides access. The app enforces it (its authorisation dependency looks the
matched route up in it; a route missing from it is refused), `check_decided` makes `create_app` fail when a route
has no entry or an entry no route, and `complete_openapi` documents it as the operations' security requirements
(and their 401/403 responses). A new route therefore cannot ship without a decision.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from fastapi import FastAPI, Request
from fastapi.routing import APIRoute, RouteContext, iter_route_contexts

PUBLIC: Final = "public"  # anyone, without a key

Operation = tuple[str, str]  # ("GET", "/imports/{job_id}"): the method and the path as the OpenAPI document names it


@dataclass(frozen=True)
class AccessTable:
    """What each operation needs: `PUBLIC` or a scope; `scopes` describes every scope for the OpenAPI document."""

    needs: Mapping[Operation, str]
    scopes: Mapping[Any, str] = field(default_factory=dict)  # by scope name (a str, or a StrEnum of them)
    scheme: str = "bearerKey"  # the security scheme's name in the OpenAPI document
    # Served but kept out of the OpenAPI document (browser pages, event streams): decided here all the same.
    undocumented: frozenset[Operation] = frozenset()

    def required(self, request: Request) -> str | None:
        """What the request's operation needs; None when the matched route has no entry (to be refused)."""
        route = request.scope.get("route")
        if not isinstance(route, APIRoute):
            return None
        return self.needs.get((request.method, route.path_format))


class UndecidedAccess(RuntimeError):
    """The table and the app's routes differ: a route nobody decided about, or a decision about no route."""


def operations(app: FastAPI) -> set[Operation]:
    """Every operation the app serves and documents, as (method, path) with the OpenAPI document's path names."""
    return {
        (method, str(context.path_format))
        for context in _api_routes(app)
        if context.include_in_schema
        for method in context.methods or ()
    }


def undocumented_operations(app: FastAPI) -> set[Operation]:
    """The operations the app serves but leaves out of its OpenAPI document."""
    return {
        (method, str(context.path_format))
        for context in _api_routes(app)
        if not context.include_in_schema
        for method in context.methods or ()
    }


def _api_routes(app: FastAPI) -> list[RouteContext]:
    """The app's API routes as served: each with the path it is served under (included routers flattened)."""
    return [context for context in iter_route_contexts(app.routes) if isinstance(context.original_route, APIRoute)]


def check_decided(app: FastAPI, table: AccessTable) -> None:
    """Raise `UndecidedAccess` unless the table has exactly one entry per operation of the app."""
    prefixed = sorted(
        str(context.path_format)
        for context in _api_routes(app)
        if isinstance(context.original_route, APIRoute) and context.path_format != context.original_route.path_format
    )
    if prefixed:
        # A request is looked up by its route's own path; a prefix added by include_router is not part of it.
        raise UndecidedAccess(f"routes served under a prefix their router does not declare: {', '.join(prefixed)}")
    hidden = undocumented_operations(app)
    served = operations(app) | hidden
    undecided = sorted(served - table.needs.keys())
    stale = sorted(table.needs.keys() - served)
    # An undocumented operation must be declared so: the document then lists exactly the rest.
    undecided += sorted((hidden ^ table.undocumented) - set(undecided) - set(stale))
    unknown = sorted({need for need in table.needs.values() if need != PUBLIC} - table.scopes.keys())
    if undecided or stale or unknown:
        raise UndecidedAccess(
            "the access table does not match the routes: "
            + "; ".join(
                part
                for part in (
                    f"no decision for {_names(undecided)}" if undecided else "",
                    f"decisions for no route: {_names(stale)}" if stale else "",
                    f"undescribed scopes: {', '.join(unknown)}" if unknown else "",
                )
                if part
            )
        )


def _names(items: list[Operation]) -> str:
    return ", ".join(f"{method} {path}" for method, path in items)
