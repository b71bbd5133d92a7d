"""Upper bounds that come from settings, for parameters of module-level routes.

A route declared at import time cannot write `Query(le=settings.page_size_max)`: the settings exist only once the
app is built. Such a parameter declares its static bounds (`ge=1`), and a dependency checks the setting per request
with `at_most`, which answers exactly as FastAPI's own `le=` check does (a 422 naming the field, code
`less_than_equal`). The app documents the bound with `complete_openapi(app, query_maximums=...)`.
"""

from fastapi.exceptions import RequestValidationError


def at_most(value: int, maximum: int, name: str, location: str = "query") -> int:
    """`value` if it is at most `maximum`; else a request validation error naming the parameter."""
    if value > maximum:
        raise RequestValidationError(
            [
                {
                    "loc": (location, name),
                    "msg": f"Input should be less than or equal to {maximum}",
                    "type": "less_than_equal",
                    "input": value,
                    "ctx": {"le": maximum},
                }
            ]
        )
    return value
