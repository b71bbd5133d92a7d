"""An enrichment provider on 127.0.0.1 for tests: answers the HTTP provider's contract as a test scripts it (ok,
slow, 429 with Retry-After, 500); `close()` takes it down."""

import json
import threading
import time
from typing import Any

from tests.loopback import LoopbackServer, QuietHandler


class ProviderServer(LoopbackServer):
    """POST /lookup: the next step of the script, then `default` ("ok" answers `keywords`)."""

    def __init__(self, keywords: tuple[str, ...] = ("from-provider",), slow_s: float = 2.0) -> None:
        self.keywords = keywords
        self.slow_s = slow_s
        self.default = "ok"
        self.steps: list[str] = []
        self.requests: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        server = self

        class Handler(QuietHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("content-length", "0"))))
                with server.lock:
                    step = server.steps.pop(0) if server.steps else server.default
                    server.requests.append(body)
                if step == "slow":
                    time.sleep(server.slow_s)
                json_type = {"Content-Type": "application/json"}
                if step == "429":
                    self.answer(429, b"{}", {"Retry-After": "0", **json_type})
                elif step == "500":
                    self.answer(500, b"{}", json_type)
                else:
                    answer = {"keywords": list(server.keywords), "category_hints": [], "attributes": {}}
                    self.answer(200, json.dumps(answer).encode(), json_type)

        super().__init__(Handler)

    @property
    def url(self) -> str:
        return f"http://{self.address}/lookup"

    def script(self, *steps: str) -> None:
        with self.lock:
            self.steps = list(steps)
