"""The event contracts over HTTP: `GET /asyncapi.json` and every JSON Schema at `GET /schemas/{name}`.

Both are served with their `$id`s under PUBLIC_BASE_URL, so a served schema's `$id` is the URL it was fetched
from, its relative `$ref`s resolve to sibling URLs here, and `ce_dataschema` of a produced event points at it.
"""

from functools import cache
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from catalog_api.entrypoints.deps import Settings
from catalog_api.entrypoints.problems import Problem
from catalog_http.openapi import error_responses
from catalog_schemas import schema_document, schema_names
from catalog_schemas.asyncapi import document

SCHEMA_JSON = "application/schema+json"
# The documents change only with a release: caches may keep them for a while.
_CACHE = {"Cache-Control": "public, max-age=300"}

router = APIRouter(tags=["contracts"])


class SchemaJSONResponse(JSONResponse):
    media_type = SCHEMA_JSON


@cache
def asyncapi_for(base_url: str) -> dict[str, Any]:
    """Built once per base URL: the document depends only on the registry and the base URL."""
    return document(base_url)


@cache
def schemas_for(base_url: str) -> dict[str, dict[str, Any]]:
    return {name: schema_document(name, base_url) for name in schema_names()}


def prepare(base_url: str) -> None:
    """Build the documents for `base_url` ahead of the first request that asks for them."""
    asyncapi_for(base_url)
    schemas_for(base_url)


@router.get("/asyncapi.json", responses={200: {"content": {"application/json": {"schema": {"type": "object"}}}}})
def asyncapi_document(settings: Settings) -> JSONResponse:
    """The AsyncAPI 3.0 document of every topic the platform produces: channels, messages, headers, schemas."""
    return JSONResponse(asyncapi_for(settings.public_base_url), headers=_CACHE)


@router.get(
    "/schemas/{name}",
    response_class=SchemaJSONResponse,
    responses={
        200: {
            "description": "The JSON Schema (draft 2020-12)",
            "content": {SCHEMA_JSON: {"schema": {"type": "object"}}},
        },
        **error_responses(422, {404: "No such schema"}),
    },
)
def event_schema(name: str, settings: Settings) -> SchemaJSONResponse:
    """An event's JSON Schema by file name, e.g. `product.created.v1.json` (what `ce_dataschema` points at)."""
    schemas = schemas_for(settings.public_base_url)
    schema = schemas.get(name)
    if schema is None:
        raise Problem(404, "not-found", "No such schema", f"known schemas: {', '.join(schemas)}")
    return SchemaJSONResponse(schema, headers=_CACHE)
