"""OpenAPI declarations shared by the HTTP services: problem+json error responses, required request headers, and
who may call each operation.

Routes declare their errors with `error_responses(...)` instead of spelling the response objects out, and the app's
document gets the `Problem` schema they refer to from `complete_openapi(app)`; given the app's access table, it also
gets a bearer security scheme and, on every operation, the scope it needs (with its 401 and 403 responses).
"""

from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI

from catalog_http.access import PUBLIC, AccessTable
from catalog_http.problems import PROBLEM_JSON

PROBLEM_REF = "#/components/schemas/Problem"
# A route lists header names here (`openapi_extra`) that it refuses to serve without, although it reads them as
# optional to answer their absence with a problem of its own (e.g. 428) rather than the generic 422.
REQUIRED_HEADERS = "x-required-headers"

_DESCRIPTIONS = {
    400: "Bad request",
    401: "No bearer key, or one that is unknown, revoked or malformed",
    403: "The key lacks the scope the operation needs",
    404: "Not found",
    409: "Conflict with the current state",
    412: "If-Match names an older version",
    413: "Request body too large",
    415: "Unsupported media type",
    422: "Invalid field(s), each named in `errors`",
    428: "If-Match missing",
    503: "Not ready",
}
_HEADERS: dict[int, dict[str, Any]] = {
    401: {
        "WWW-Authenticate": {
            "description": '`Bearer` (no key sent) or `Bearer error="invalid_token"`',
            "schema": {"type": "string"},
        }
    },
    403: {
        "WWW-Authenticate": {
            "description": '`Bearer error="insufficient_scope", scope="<the scope needed>"`',
            "schema": {"type": "string"},
        }
    },
    412: {"ETag": {"description": "The current version's ETag", "schema": {"type": "string"}}},
}

_SCHEMAS = {
    "Problem": {
        "type": "object",
        "title": "Problem",
        "description": "RFC 9457 problem details.",
        "required": ["type", "title", "status"],
        "properties": {
            "type": {"type": "string", "description": "`urn:catalog:problem:<kind>`; stable, switch on it."},
            "title": {"type": "string", "description": "Short summary of the problem type."},
            "status": {"type": "integer", "description": "The HTTP status code."},
            "detail": {"type": "string", "description": "What went wrong in this request."},
            "errors": {
                "type": "array",
                "description": "The invalid fields, one entry each.",
                "items": {"$ref": "#/components/schemas/FieldProblem"},
            },
        },
    },
    "FieldProblem": {
        "type": "object",
        "title": "FieldProblem",
        "required": ["field", "message", "code"],
        "properties": {
            "field": {"type": "string", "description": "Path of the field, e.g. `variants[0].sku`, or a header name."},
            "message": {"type": "string"},
            "code": {"type": "string", "description": "Machine-readable reason, e.g. `string_too_short`."},
        },
    },
}


def error_responses(*declared: int | Mapping[int, str]) -> dict[int | str, dict[str, Any]]:
    """`responses=` for a route: each status answered with an `application/problem+json` Problem.

    A bare status gets the usual description; a mapping gives its statuses the route's own wording, e.g.
    `error_responses(401, 422, {404: "Unknown job"})`.
    """
    responses: dict[int | str, dict[str, Any]] = {}
    for item in declared:
        described = item if isinstance(item, Mapping) else {item: _DESCRIPTIONS[item]}
        for status, description in described.items():
            response: dict[str, Any] = {
                "description": description,
                "content": {PROBLEM_JSON: {"schema": {"$ref": PROBLEM_REF}}},
            }
            if status in _HEADERS:
                response["headers"] = _HEADERS[status]
            responses[status] = response
    return responses


def complete_openapi(
    app: FastAPI, query_maximums: Mapping[str, int] | None = None, access: AccessTable | None = None
) -> None:
    """Add what `error_responses()` refers to, and mark the headers routes require, in `app`'s OpenAPI document.

    `query_maximums` documents the upper bounds that routes check against settings per request (see
    `catalog_http.bounds`), by query parameter name: e.g. `{"limit": settings.page_size_max}` for every `limit`.
    `access` documents who may call each operation (`catalog_http.access`).
    """
    generate = app.openapi
    maximums = dict(query_maximums or {})

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = generate()  # caches itself as app.openapi_schema: amended in place, once
            components = document.setdefault("components", {})
            components.setdefault("schemas", {}).update(_SCHEMAS)
            if access is not None and any(need != PUBLIC for need in access.needs.values()):
                components.setdefault("securitySchemes", {})[access.scheme] = _bearer_scheme(access)
            for path, operations in document.get("paths", {}).items():
                for method, operation in operations.items():
                    _require_headers(operation)
                    _bound_query(operation, maximums)
                    if access is not None:
                        _secure(operation, access, access.needs.get((method.upper(), path), PUBLIC))
        return app.openapi_schema or {}

    app.openapi = openapi  # type: ignore[method-assign]


def _bearer_scheme(access: AccessTable) -> dict[str, Any]:
    scopes = "\n".join(f"- `{scope}`: {meaning}" for scope, meaning in access.scopes.items())
    return {
        "type": "http",
        "scheme": "bearer",
        "description": "`Authorization: Bearer <key>`. Each key carries scopes; an operation names the one it needs"
        + (f":\n\n{scopes}" if scopes else "."),
    }


def _secure(operation: dict[str, Any], access: AccessTable, need: str) -> None:
    """The operation's security requirement (none for a public one) and the answers a caller without it gets."""
    if need == PUBLIC:
        operation["security"] = []  # explicitly public, whatever a document-wide default may say
        return
    # OpenAPI 3.1 lets a non-OAuth requirement list role names; here they are the key's scopes.
    operation["security"] = [{access.scheme: [need]}]
    responses = operation.setdefault("responses", {})
    for status, response in error_responses(401, 403).items():
        responses.setdefault(str(status), response)
    note = f"Needs a key with scope `{need}`."
    operation["description"] = f"{operation['description']}\n\n{note}" if operation.get("description") else note


def _require_headers(operation: dict[str, Any]) -> None:
    required = {name.lower() for name in operation.pop(REQUIRED_HEADERS, [])}
    for parameter in operation.get("parameters", []):
        if parameter.get("in") == "header" and parameter["name"].lower() in required:
            parameter["required"] = True


def _bound_query(operation: dict[str, Any], maximums: Mapping[str, int]) -> None:
    for parameter in operation.get("parameters", []):
        if parameter.get("in") == "query" and parameter["name"] in maximums:
            parameter.setdefault("schema", {})["maximum"] = maximums[parameter["name"]]
