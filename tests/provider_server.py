"""An enrichment provider on 127.0.0.1 for tests: answers the HTTP provider's contract as a test scripts it (ok,
slow, 429 with Retry-After, 500); `close()` takes it down."""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class ProviderServer:
    """POST /lookup: the next step of the script, then `default` ("ok" answers `keywords`)."""

    def __init__(self, keywords: tuple[str, ...] = ("from-provider",), slow_s: float = 2.0) -> None:
        self.keywords = keywords
        self.slow_s = slow_s
        self.default = "ok"
        self.steps: list[str] = []
        self.requests: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("content-length", "0"))))
                with server.lock:
                    step = server.steps.pop(0) if server.steps else server.default
                    server.requests.append(body)
                if step == "slow":
                    time.sleep(server.slow_s)
                if step == "429":
                    self.answer(429, b"{}", {"Retry-After": "0"})
                elif step == "500":
                    self.answer(500, b"{}")
                else:
                    answer = {"keywords": list(server.keywords), "category_hints": [], "attributes": {}}
                    self.answer(200, json.dumps(answer).encode())

            def answer(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
                try:
                    self.send_response(status)
                    for name, value in (headers or {}).items():
                        self.send_header(name, value)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a timeout): nothing to answer

            def log_message(self, format: str, *args: object) -> None:  # quiet
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.server.server_address[1]}"

    @property
    def url(self) -> str:
        return f"http://{self.address}/lookup"

    def script(self, *steps: str) -> None:
        with self.lock:
            self.steps = list(steps)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)
