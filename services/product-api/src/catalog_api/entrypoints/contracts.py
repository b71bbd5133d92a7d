"""The event contracts over HTTP: `GET /asyncapi.json` and every JSON Schema at `GET /schemas/{name}`.

Both are served with their `$id`s under PUBLIC_BASE_URL, so a served schema's `$id` is the URL it was fetched
from, its relative `$ref`s resolve to sibling URLs here, and `ce_dataschema` of a produced event points at it.
"""

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from catalog_api.entrypoints.problems import Problem
from catalog_api.settings import ApiSettings
from catalog_http.openapi import error_responses
from catalog_schemas import schema_document, schema_names
from catalog_schemas.asyncapi import document

SCHEMA_JSON = "application/schema+json"
# The documents change only with a release: caches may keep them for a while.
_CACHE = {"Cache-Control": "public, max-age=300"}


class SchemaJSONResponse(JSONResponse):
    media_type = SCHEMA_JSON


def contracts_router(settings: ApiSettings) -> APIRouter:
    router = APIRouter(tags=["contracts"])
    base_url = settings.public_base_url
    asyncapi = document(base_url)  # built once: it depends only on the registry and the base URL
    schemas = {name: schema_document(name, base_url) for name in schema_names()}

    @router.get("/asyncapi.json", responses={200: {"content": {"application/json": {"schema": {"type": "object"}}}}})
    def asyncapi_document() -> JSONResponse:
        """The AsyncAPI 3.0 document of every topic the platform produces: channels, messages, headers, schemas."""
        return JSONResponse(asyncapi, headers=_CACHE)

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
    def event_schema(name: str) -> SchemaJSONResponse:
        """An event's JSON Schema by file name, e.g. `product.created.v1.json` (what `ce_dataschema` points at)."""
        schema: dict[str, Any] | None = schemas.get(name)
        if schema is None:
            raise Problem(404, "not-found", "No such schema", f"known schemas: {', '.join(schemas)}")
        return SchemaJSONResponse(schema, headers=_CACHE)

    return router
