"""OpenAPI declarations shared by the HTTP services: problem+json error responses and required request headers.

Routes declare their errors with `error_responses(...)` instead of spelling the response objects out, and the app's
document gets the `Problem` schema they refer to from `complete_openapi(app)`.
"""

from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI

from catalog_http.problems import PROBLEM_JSON

PROBLEM_REF = "#/components/schemas/Problem"
# A route lists header names here (`openapi_extra`) that it refuses to serve without, although it reads them as
# optional to answer their absence with a problem of its own (e.g. 428) rather than the generic 422.
REQUIRED_HEADERS = "x-required-headers"

_DESCRIPTIONS = {
    400: "Bad request",
    401: "No or unknown bearer key",
    403: "Not allowed",
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
    401: {"WWW-Authenticate": {"description": "`Bearer`", "schema": {"type": "string"}}},
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


def complete_openapi(app: FastAPI, query_maximums: Mapping[str, int] | None = None) -> None:
    """Add what `error_responses()` refers to, and mark the headers routes require, in `app`'s OpenAPI document.

    `query_maximums` documents the upper bounds that routes check against settings per request (see
    `catalog_http.bounds`), by query parameter name: e.g. `{"limit": settings.page_size_max}` for every `limit`.
    """
    generate = app.openapi
    maximums = dict(query_maximums or {})

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = generate()  # caches itself as app.openapi_schema: amended in place, once
            document.setdefault("components", {}).setdefault("schemas", {}).update(_SCHEMAS)
            for operations in document.get("paths", {}).values():
                for operation in operations.values():
                    _require_headers(operation)
                    _bound_query(operation, maximums)
        return app.openapi_schema or {}

    app.openapi = openapi  # type: ignore[method-assign]


def _require_headers(operation: dict[str, Any]) -> None:
    required = {name.lower() for name in operation.pop(REQUIRED_HEADERS, [])}
    for parameter in operation.get("parameters", []):
        if parameter.get("in") == "header" and parameter["name"].lower() in required:
            parameter["required"] = True


def _bound_query(operation: dict[str, Any], maximums: Mapping[str, int]) -> None:
    for parameter in operation.get("parameters", []):
        if parameter.get("in") == "query" and parameter["name"] in maximums:
            parameter.setdefault("schema", {})["maximum"] = maximums[parameter["name"]]
