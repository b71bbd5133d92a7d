"""The product API's errors as problem+json: the shared handlers plus the catalog's own errors."""

from fastapi import FastAPI

from catalog_api.adapters.idempotency import IdempotencyKeyReused
from catalog_core.domain.errors import DuplicateSku, ProductNotFound, VersionMismatch
from catalog_http.problems import (
    PROBLEM_JSON,
    Problem,
    add_problem,
    install_problem_handlers,
    validation_problem,
)

__all__ = ["PROBLEM_JSON", "Problem", "install", "validation_problem"]


def install(app: FastAPI) -> None:
    """Register the handlers that turn exceptions into problem responses."""
    install_problem_handlers(app)
    add_problem(app, ProductNotFound, lambda e: Problem(404, "not-found", "Product not found", str(e)))
    add_problem(
        app,
        DuplicateSku,
        lambda e: Problem(
            409,
            "duplicate-sku",
            "SKU already in use",
            str(e),
            [{"field": e.field, "message": str(e), "code": "duplicate_sku"}],
        ),
    )
    add_problem(
        app,
        VersionMismatch,
        lambda e: Problem(412, "version-mismatch", "Precondition failed", str(e), headers={"ETag": f'"{e.current}"'}),
    )
    add_problem(
        app,
        IdempotencyKeyReused,
        lambda e: Problem(
            422,
            "idempotency-key-reused",
            "Idempotency-Key reused",
            "this Idempotency-Key was used with a different request body",
            [{"field": "Idempotency-Key", "message": "used before with another body", "code": "key_reused"}],
        ),
    )
