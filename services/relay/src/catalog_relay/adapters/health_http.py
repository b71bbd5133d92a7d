"""`/healthz`, `/readyz` and `/metrics` of the relay on a small HTTP port, served from a thread of its own (standard
library)."""

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from catalog_kit.metrics import CONTENT_TYPE, exposition


def serve_health(host: str, port: int, report: Callable[[], dict[str, Any]]) -> ThreadingHTTPServer:
    """Start serving in a daemon thread; `report()` decides readiness (its `ready` key). Returns the server."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/healthz":
                self._answer(200, {"status": "ok"})
            elif self.path == "/readyz":
                body = report()
                self._answer(200 if body.get("ready") else 503, body)
            elif self.path == "/metrics":
                self._answer(200, exposition(), CONTENT_TYPE)
            else:
                self._answer(404, {"status": "not found"})

        def _answer(self, status: int, body: dict[str, Any] | bytes, content_type: str = "application/json") -> None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            """Probes every few seconds are not worth a log line each."""

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="health", daemon=True).start()
    return server
