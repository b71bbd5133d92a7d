"""Request metrics of an HTTP service and its `/metrics` route.

The route label is the matched route's path template (`/products/{product_id}`), never the raw path, so the series
stay bounded whatever clients send; a request no route matched counts under `unmatched`.
"""

import time

from fastapi import APIRouter, Response
from prometheus_client import Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from catalog_kit.metrics import CONTENT_TYPE, exposition

REQUESTS = Counter(
    "catalog_http_requests",
    "HTTP requests answered, by route template and status.",
    ["service", "method", "route", "status"],
)
REQUEST_SECONDS = Histogram(
    "catalog_http_request_seconds",
    "Time from a request's arrival to the end of its response body.",
    ["service", "method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 120),
)
UNMATCHED = "unmatched"
# Any token is a valid method to the server: others are counted together, so a client cannot add series.
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

router = APIRouter(tags=["operations"])


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
)
def metrics() -> Response:
    """Prometheus metrics of this process (text exposition format; docs/metrics.md says what each means)."""
    return Response(exposition(), media_type=CONTENT_TYPE)


def route_template(scope: Scope) -> str:
    """The path template of the route that served the request; `unmatched` when none did."""
    route = scope.get("route")
    template = getattr(route, "path_format", None)
    return template if isinstance(template, str) else UNMATCHED


class RequestMetrics:
    """ASGI middleware counting every HTTP request by method, route template and status, and timing it."""

    def __init__(self, app: ASGIApp, service: str) -> None:
        self.app, self.service = app, service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the client gets when the app fails before it answers

        async def send_with_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_with_status)
        finally:
            method = scope["method"] if scope["method"] in METHODS else "OTHER"
            route = route_template(scope)
            REQUESTS.labels(self.service, method, route, str(status)).inc()
            REQUEST_SECONDS.labels(self.service, method, route).observe(time.perf_counter() - started)
