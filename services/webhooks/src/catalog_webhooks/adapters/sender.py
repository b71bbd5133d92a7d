"""POSTs a signed delivery through the platform's outbound client (its policy refuses internal addresses)."""

import time
from datetime import UTC, datetime

from catalog_kit.outbound import OutboundClient, OutboundError
from catalog_webhooks.adapters.deliveries import AttemptResult


class HttpSender:
    """One POST per attempt; any answer but a 2xx, and no answer at all, is a failed attempt."""

    def __init__(self, client: OutboundClient, deadline_s: float) -> None:
        self.client = client
        self.deadline_s = deadline_s

    def post(self, url: str, headers: dict[str, str], body: bytes) -> AttemptResult:
        started_at = datetime.now(UTC)
        start = time.monotonic()
        status: int | None = None
        error: str | None
        try:
            with self.client.stream(
                "POST",
                url,
                deadline_s=self.deadline_s,
                headers={**headers, "Content-Type": "application/json"},
                content=body,
            ) as response:
                status = response.status_code
                # The receiver's body is not read: only its status counts, and a large one must not cost us.
            error = None if 200 <= status < 300 else f"http_{status}"
        except OutboundError as exc:
            error = exc.reason.value
        return AttemptResult(started_at, status, error, round((time.monotonic() - start) * 1000))

    def close(self) -> None:
        self.client.close()
