"""HTTP errors as RFC 9457 `application/problem+json`, each invalid field named by its path (`variants[0].sku`).

Shared by every HTTP service; a service registers its own domain errors with `add_problem`.
"""

import logging
from collections.abc import Callable, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.exceptions import HTTPException

from catalog_kit.field_paths import field_path
from catalog_kit.outages import DATABASE_OUTAGES

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"
RETRY_AFTER_S = 2  # a database restart takes seconds; clients come back soon, not in a storm


class Problem(Exception):
    """An HTTP error with a problem type; raised anywhere in a request, rendered by the installed handler."""

    def __init__(
        self,
        status: int,
        kind: str,
        title: str,
        detail: str | None = None,
        errors: Sequence[dict[str, Any]] = (),
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail or title)
        self.status, self.kind, self.title, self.detail = status, kind, title, detail
        self.errors = list(errors)
        self.headers = headers or {}

    def response(self) -> JSONResponse:
        body: dict[str, Any] = {"type": f"urn:catalog:problem:{self.kind}", "title": self.title, "status": self.status}
        if self.detail:
            body["detail"] = self.detail
        if self.errors:
            body["errors"] = self.errors
        return JSONResponse(body, status_code=self.status, media_type=PROBLEM_JSON, headers=self.headers)


def validation_problem(errors: Sequence[Any]) -> Problem:
    fields = [{"field": field_path(e["loc"]) or "body", "message": e["msg"], "code": e["type"]} for e in errors]
    noun = "field is" if len(fields) == 1 else "fields are"
    return Problem(422, "validation", "Invalid request", f"{len(fields)} {noun} invalid", fields)


def add_problem(app: FastAPI, exc_type: type[Exception], convert: Callable[[Any], Problem]) -> None:
    """Render `exc_type` as the problem `convert` makes of it."""

    async def handler(_: Request, exc: Exception) -> JSONResponse:
        return convert(exc).response()

    app.add_exception_handler(exc_type, handler)


def install_problem_handlers(app: FastAPI) -> None:
    """Problems, request validation, model validation and plain HTTP errors, all as problem+json."""
    add_problem(app, Problem, lambda e: e)
    add_problem(app, RequestValidationError, lambda e: validation_problem(e.errors()))
    add_problem(app, ValidationError, lambda e: validation_problem(e.errors()))
    add_problem(app, HTTPException, _http_problem)
    for outage in DATABASE_OUTAGES:
        add_problem(app, outage, database_unavailable)


def database_unavailable(exc: Exception) -> Problem:
    """The database is down or restarting: the client may retry shortly; nothing was written."""
    log.warning("database unavailable", extra={"error": f"{type(exc).__name__}: {exc}"[:300]})
    return Problem(
        503,
        "unavailable",
        "Service unavailable",
        "the catalog database is unavailable; retry shortly",
        headers={"Retry-After": str(RETRY_AFTER_S)},
    )


def _http_problem(exc: HTTPException) -> Problem:
    if exc.status_code == 400 and isinstance(exc.__cause__, UnicodeDecodeError):
        # FastAPI answers malformed JSON with a validation error (422 json_invalid) but a body that is not UTF-8 with
        # a bare 400: both are an unreadable body, so both get the same answer.
        return validation_problem(
            [{"loc": ("body",), "msg": "the body is not UTF-8 encoded JSON", "type": "json_invalid"}]
        )
    if exc.status_code == 400 and isinstance(exc.__cause__, RecursionError):
        # JSON nested a few thousand levels deep exhausts the parser's recursion: as unreadable as malformed JSON.
        return validation_problem([{"loc": ("body",), "msg": "the JSON body nests too deeply", "type": "json_invalid"}])
    return Problem(exc.status_code, "http", str(exc.detail), headers=dict(exc.headers or {}))
