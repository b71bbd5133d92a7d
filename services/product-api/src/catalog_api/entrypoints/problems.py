"""Errors as RFC 9457 `application/problem+json`, each invalid field named by its path (e.g. `variants[0].sku`)."""

from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.exceptions import HTTPException

from catalog_api.adapters.idempotency import IdempotencyKeyReused
from catalog_api.domain.errors import DuplicateSku, ProductNotFound, VersionMismatch

PROBLEM_JSON = "application/problem+json"


class Problem(Exception):
    """An HTTP error with a problem type; raised anywhere in a request, rendered by the handler below."""

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
        body: dict[str, Any] = {
            "type": f"urn:catalog:problem:{self.kind}",
            "title": self.title,
            "status": self.status,
        }
        if self.detail:
            body["detail"] = self.detail
        if self.errors:
            body["errors"] = self.errors
        return JSONResponse(body, status_code=self.status, media_type=PROBLEM_JSON, headers=self.headers)


def field_path(loc: Sequence[int | str]) -> str:
    """`("body", "variants", 0, "sku")` → `variants[0].sku`."""
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif part != "body" or path:
            path += f".{part}" if path else str(part)
    return path


def validation_problem(errors: Sequence[Any]) -> Problem:
    fields = [{"field": field_path(e["loc"]) or "body", "message": e["msg"], "code": e["type"]} for e in errors]
    noun = "field is" if len(fields) == 1 else "fields are"
    return Problem(422, "validation", "Invalid request", f"{len(fields)} {noun} invalid", fields)


def install(app: FastAPI) -> None:
    """Register the handlers that turn exceptions into problem responses."""

    def handle(exc_type: type[Exception], convert: Any) -> None:
        async def handler(_: Request, exc: Exception) -> JSONResponse:
            problem: Problem = convert(exc)
            return problem.response()

        app.add_exception_handler(exc_type, handler)

    handle(Problem, lambda e: e)
    handle(RequestValidationError, lambda e: validation_problem(e.errors()))
    handle(ValidationError, lambda e: validation_problem(e.errors()))
    handle(ProductNotFound, lambda e: Problem(404, "not-found", "Product not found", str(e)))
    handle(
        DuplicateSku,
        lambda e: Problem(
            409,
            "duplicate-sku",
            "SKU already in use",
            str(e),
            [{"field": e.field, "message": str(e), "code": "duplicate_sku"}],
        ),
    )
    handle(
        VersionMismatch,
        lambda e: Problem(412, "version-mismatch", "Precondition failed", str(e), headers={"ETag": f'"{e.current}"'}),
    )
    handle(
        IdempotencyKeyReused,
        lambda e: Problem(
            422,
            "idempotency-key-reused",
            "Idempotency-Key reused",
            "this Idempotency-Key was used with a different request body",
            [{"field": "Idempotency-Key", "message": "used before with another body", "code": "key_reused"}],
        ),
    )
    handle(HTTPException, lambda e: Problem(e.status_code, "http", str(e.detail), headers=e.headers))
